"""Incident Manager Contacts (ssm-contacts): contacts, channels, plans, rotations, engagements."""
