"""SSM Automation: documents (runbooks), their versions and sharing."""
