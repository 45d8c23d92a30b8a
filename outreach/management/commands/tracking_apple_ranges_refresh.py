"""`manage.py tracking_apple_ranges_refresh [--url URL] [--output FILE]`: replace the shipped Apple egress list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from outreach.tracking import networks
from outreach.tracking.refresh import RefreshError, apple_ranges_refresh


class Command(BaseCommand):
    help = "Download Apple's Mail Privacy Protection / Private Relay egress ranges and store them for the bot rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default=settings.TRACKING_APPLE_RANGES_URL)
        parser.add_argument(
            "--output",
            default=settings.TRACKING_APPLE_RANGES_FILE or str(networks.APPLE_FILE),
            help="the file to write (default: TRACKING_APPLE_RANGES_FILE, else the shipped list)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = apple_ranges_refresh(url=options["url"], path=Path(options["output"]))
        except RefreshError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Stored {count} Apple egress ranges in {options['output']}.")
