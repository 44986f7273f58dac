"""Tocsin: a self-hosted incident manager that speaks the AWS Incident Manager APIs."""

__version__ = "0.1.0"
