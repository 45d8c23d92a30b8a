"""`make run`: DEBUG on, the embedded services, mail to the SMTP sink."""

from __future__ import annotations

from ._env import boolean
from .base import *  # noqa: F403

DEBUG = boolean("DEBUG", True)
