"""`manage.py tracking_apple_ranges_refresh` against a local server speaking Apple's format (text/csv,
`prefix,country,region,city,` lines), and the MPP rule reading the refreshed file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from outreach.tracking import bots, networks

from . import fixtures as f

APPLE_CSV = (
    "172.224.226.0/27,GB,GB-EN,London,\n"
    "172.224.226.32/27,GB,GB-EN,London,\n"
    "2a02:26f7:b3c0:4000::/64,DE,DE-BE,Berlin,\n"
    "198.18.7.0/24,US,US-CA,Los Angeles,\n"
)


class _Apple:
    def __init__(self) -> None:
        self.body, self.status = APPLE_CSV.encode(), 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/egress-ip-ranges.csv"


@pytest.fixture
def apple() -> Iterator[_Apple]:
    fake = _Apple()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    networks.apple_ranges.cache_clear()


def test_refresh_writes_source_date_and_ranges(apple, tmp_path: Path, settings) -> None:
    out = tmp_path / "apple.csv"
    call_command("tracking_apple_ranges_refresh", url=apple.url, output=str(out))
    text = out.read_text()
    assert f"# source: {apple.url}" in text and "# date: " in text and "4 ranges" in text
    assert "198.18.7.0/24,US,US-CA,Los Angeles," in text
    settings.TRACKING_APPLE_RANGES_FILE = str(out)
    networks.apple_ranges.cache_clear()
    proxied = bots.Hit("o", 2.0e9, "198.18.7.0/24", f.CHROME_MAC)
    assert bots.classify(proxied, bots.MessageFacts(1.9e9)).bot_kind == "machine"
    # Not in the refreshed list any more (the shipped list has 17.0.0.0/8): the same fetch from there is human.
    other = bots.Hit("o", 2.0e9, "17.58.101.0/24", f.CHROME_MAC)
    assert not bots.classify(other, bots.MessageFacts(1.9e9)).is_bot


def test_failed_or_empty_download_keeps_the_current_file(apple, tmp_path: Path) -> None:
    out = tmp_path / "apple.csv"
    out.write_text("# old\n17.0.0.0/8,US,,,\n")
    apple.body = b"<html>Service unavailable</html>"
    with pytest.raises(CommandError, match="without any IP range"):
        call_command("tracking_apple_ranges_refresh", url=apple.url, output=str(out))
    apple.status = 503
    with pytest.raises(CommandError, match="Could not download"):
        call_command("tracking_apple_ranges_refresh", url=apple.url, output=str(out))
    assert out.read_text() == "# old\n17.0.0.0/8,US,,,\n"


def test_shipped_file_names_its_source_and_date() -> None:
    head = networks.APPLE_FILE.read_text().splitlines()[:3]
    assert "# source: https://mask-api.icloud.com/egress-ip-ranges.csv" in head
    assert any(line.startswith("# date: 20") for line in head)
