"""`make run`: DEBUG on, the embedded services, mail to the SMTP sink."""

from __future__ import annotations

from ._env import boolean
from .base import *  # noqa: F403

DEBUG = boolean("DEBUG", True)
# The demo mailbox sends to the embedded SMTP sink on 127.0.0.1.
OUTREACH_ALLOW_LOOPBACK = boolean("OUTREACH_ALLOW_LOOPBACK", True)
