"""Composing emails: user-written templates rendered safely, and grounded AI drafts (see `drafts`)."""
