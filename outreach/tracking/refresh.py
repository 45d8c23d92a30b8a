"""Refreshing Apple's egress ranges from the URL Apple publishes them at (run by hand or by cron, never by us)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from . import networks

HEADER = """# Apple's egress IP ranges for iCloud Private Relay and Mail Privacy Protection.
# source: {url}
# date: {date}
# Written by `manage.py tracking_apple_ranges_refresh`: {count} ranges.
"""


class RefreshError(Exception):
    pass


def apple_ranges_refresh(*, url: str, path: Path, timeout: float = 60.0) -> int:
    """Download Apple's CSV, check it, write it to `path` with its source and date; the number of ranges.

    The old file stays as it was when the download fails or the answer holds no range (an HTML error page)."""
    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise RefreshError(f"Could not download {url}: {exc}") from exc
    count = len(networks.apple_csv_parse(response.text))
    if not count:
        raise RefreshError(f"{url} answered without any IP range; the current list is kept.")
    header = HEADER.format(url=url, date=dt.date.today().isoformat(), count=count)
    body = "\n".join(line for line in response.text.splitlines() if line.strip() and not line.startswith("#"))
    temporary = path.with_suffix(".tmp")
    temporary.write_text(header + body + "\n")
    temporary.replace(path)
    networks.apple_ranges.cache_clear()
    return count
