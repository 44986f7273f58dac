"""Database engine and session set-up, column types and migrations."""
