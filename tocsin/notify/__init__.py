"""Outbound delivery: providers for email, SMS and voice, and the development outbox."""
