"""Count every organisation's analytics rollups again from events, replies and prospects (set-based).

Run once after deploying a release that adds a rollup (the funnel and heatmap grains of analytics 0003 start empty
for the days before it) or changes what a counter counts; the beat keeps them up to date from there. Holds the
rollups' advisory lock for its run, so the beat's passes wait rather than count twice.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.rollups import rollups_rebuild_all


class Command(BaseCommand):
    help = "Rebuild every analytics rollup from scratch (events, replies, prospects)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=200_000, help="message ids per statement")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        done = rollups_rebuild_all(chunk=options["chunk"])
        self.stdout.write(
            f"Rollups rebuilt in {time.perf_counter() - started:.1f}s: {done['counted']} first events counted "
            f"in {done['chunks']} chunks, {done['segments']} recipients' segments, {done['funnel_rows']} funnel rows."
        )
