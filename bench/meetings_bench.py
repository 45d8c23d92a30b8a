"""Meetings: time to compute a host's free slots (what every booking page view does), pure Python, no database.

Run:

    .venv/bin/python bench/meetings_bench.py [--runs 50]

A host in Europe/Berlin, 09:00-17:00 Monday to Friday, 30-minute meetings on a 15-minute step, 10/5-minute
buffers, 2 hours' notice, looking 60 days ahead, with 0, 200, 2,000 and 20,000 busy ranges (booked meetings and
calendar events, unsorted and overlapping, as the page hands them over). Times `campaigns.meetings.slots.free_slots`
`runs` times per size and records p50/p95/max. Writes bench/results/meetings.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "meetings.json"

from campaigns.meetings.slots import Availability, free_slots  # noqa: E402


def _busy(count: int, now: dt.datetime, rng: random.Random) -> list[tuple[dt.datetime, dt.datetime]]:
    out = []
    for _ in range(count):
        start = now + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 60, 5))
        out.append((start, start + dt.timedelta(minutes=rng.choice([15, 30, 60, 120]))))
    rng.shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    rules = Availability(
        timezone="Europe/Berlin",
        weekly={day: [(dt.time(9), dt.time(17))] for day in range(1, 6)},
        buffer_before=dt.timedelta(minutes=10),
        buffer_after=dt.timedelta(minutes=5),
        min_notice=dt.timedelta(hours=2),
        horizon=dt.timedelta(days=60),
    )
    now = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)  # across the March clock change
    rng = random.Random(13)
    sizes = {}
    for count in (0, 200, 2_000, 20_000):
        busy = _busy(count, now, rng)
        timings, slots = [], 0
        for _ in range(args.runs):
            started = time.perf_counter()
            slots = len(
                free_slots(
                    availability=rules,
                    duration=dt.timedelta(minutes=30),
                    now=now,
                    busy=busy,
                    step=dt.timedelta(minutes=15),
                )
            )
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        sizes[str(count)] = {
            "free_slots": slots,
            "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1], 2),
            "max_ms": round(timings[-1], 2),
        }
    result = {
        "benchmark": "meetings free_slots, 60-day horizon, 30-minute meetings on a 15-minute step",
        "runs": args.runs,
        "busy_ranges": sizes,
        "load_average": os.getloadavg(),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
