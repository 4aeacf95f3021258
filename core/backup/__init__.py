"""Backups: consistent online archives of the database and key files, verified restores, schedules."""
