"""`make run` and a plain `python manage.py ...`: DEBUG on, the embedded services, mail to the SMTP sink.

Without DATABASE_URL / REDIS_URL, the services of a running `make run` are used, or started for as long as the
command runs (`leadgen.embedded.local_environment`), so `python manage.py createsuperuser` works with no variables.
"""

from __future__ import annotations

from leadgen.embedded import local_environment

local_environment()

from ._env import boolean  # noqa: E402 (the environment above must be in place before base reads it)
from .base import *  # noqa: E402, F403

DEBUG = boolean("DEBUG", True)
# The demo mailbox sends to the embedded SMTP sink on 127.0.0.1.
OUTREACH_ALLOW_LOOPBACK = boolean("OUTREACH_ALLOW_LOOPBACK", True)
