"""The campaigns scheduler, run by beat (`campaigns.tasks.scheduler_tick`): pull, then push.

1. `advance_run`: enrollments whose message outreach settled move on (or stop, or are held).
2. `stops_run`: stop rules (reply, meeting, bounce, unsubscribe, suppression, do-not-contact, company).
   `pauses_run`: an out-of-office reply moves the enrollment's next send to after the person's return.
3. `entry_run`: auto-enrolling campaigns pull newly scored prospects matching their entry rules.
4. `dispatch_run`: due enrollments get the current step's Message (queued, or a draft for review).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def tick(*, now: dt.datetime | None = None) -> dict[str, object]:
    from .advance import advance_run, stops_run
    from .dispatch import dispatch_run
    from .entry import entry_run
    from .pauses import pauses_run

    now = now or timezone.now()
    return {
        "advanced": advance_run(now=now),
        "stopped": stops_run(now=now),
        "paused": pauses_run(now=now),
        "entered": entry_run(now=now),
        "dispatched": dispatch_run(now=now),
    }
