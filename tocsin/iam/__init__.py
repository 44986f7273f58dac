"""Accounts, principals, credentials, policies, STS and IAM."""
