"""System: worker heartbeats, quarantined data, stored settings, secrets and users."""
