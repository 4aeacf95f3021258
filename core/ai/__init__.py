"""AI consensus: analysts, their opinions, the combined decision and the analysts' track records."""
