"""Sending: MIME building, transports (SMTP, ESPs through anymail) and the exactly-once engine."""
