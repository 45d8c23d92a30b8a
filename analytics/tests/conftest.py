from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from analytics.rollups import rollups_advance


@pytest.fixture
def advance() -> Callable[[], dict[str, int]]:
    """Run the incremental pass as beat would, past the settle time of rows just written."""

    def run() -> dict[str, int]:
        return rollups_advance(max_chunks=100, now=timezone.now() + dt.timedelta(minutes=10))

    return run
