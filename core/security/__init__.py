"""Secrets at rest (Fernet) and dashboard users (bcrypt)."""
