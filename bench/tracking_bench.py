"""Tracking load: open pixels and click redirects through gunicorn, every hit stored once.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/tracking_bench.py [--requests 20000]
        [--concurrency 32] [--web-workers 3]

What it does:

1. Re-creates and migrates its own database, `leadgen_bench_tracking`, and starts a Redis of its own.
2. Seeds one organisation, a mailbox, and `--messages` sent messages (two tracked links each) with a prospect each.
3. Starts gunicorn (`--server asgi`, the default: `leadgen.asgi` with uvicorn's worker; `--server wsgi`:
   `leadgen.wsgi` with sync workers; `--web-workers` of them) on 127.0.0.1, one Celery worker on the `events`
   queue (prefork, 1 process) and a beat (flush every second), as a deployment would run them.
4. Warms each web worker up, then fires `--requests` requests, half pixels and half clicks (with browser-like user
   agents, a few with scanner shapes), from `--concurrency` connections at a time of a small asyncio client of
   its own (one new connection per request, `Connection: close`, as a mail client's image fetch is; httpx's own
   overhead took most of a core). Latency is measured per request at the client (connect to last byte).
5. Waits until the buffer is empty and the opened + clicked Events stop growing, then counts them: sent (2xx/3xx
   answers) must equal stored, and no external id twice.
6. Prints and writes bench/results/tracking.json with the load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from bench._db import prepare_database  # noqa: E402
from outreach.tests.procs import cpu_seconds, free_port  # noqa: E402

DB_NAME = "leadgen_bench_tracking"
# The two entry points production can run (README, "Scaling out"): uvicorn's worker on the ASGI app, whose
# tracking fast path does not block (outreach/tracking/asgi.py), or sync workers on the WSGI app.
SERVERS = {
    "asgi": ["leadgen.asgi", "-k", "leadgen.asgi_worker.Worker"],
    "wsgi": ["leadgen.wsgi"],
}
AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0",
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
]


def _seed(count: int) -> list[tuple[int, int]]:
    """(org id, message id) of `count` sent messages with two stored links each."""
    from django.utils import timezone

    from accounts.models import Organization
    from outreach.models import Mailbox, Message, MessageStatus
    from prospects.models import Prospect

    org = Organization.objects.create(name="Bench", slug="bench-tracking", postal_address="1 Bench Road")
    mailbox = Mailbox.objects.unscoped().create(org=org, name="Bench", from_email="bench@bench.test")
    prospects = Prospect.objects.unscoped().bulk_create(
        [Prospect(org=org, email=f"p{i}@example.test", first_name=f"P{i}") for i in range(count)]
    )
    sent_at = timezone.now() - dt.timedelta(hours=1)
    links = ["https://acme.test/pricing", "https://acme.test/case-study"]
    messages = Message.objects.unscoped().bulk_create(
        [
            Message(
                org=org,
                mailbox=mailbox,
                prospect=p,
                send_key=f"bench:{i}",
                to_email=p.email,
                subject="Bench",
                body_text="x",
                status=MessageStatus.SENT,
                message_id=f"<bench{i}@bench.test>",
                sent_at=sent_at,
                meta={"track_opens": True, "track_clicks": True, "links": links},
            )
            for i, p in enumerate(prospects)
        ]
    )
    from outreach.tracking.links import links_cache

    for m in messages:  # what sending does (outreach.tracking.links.message_prepare)
        links_cache(org_id=org.pk, message_id=m.pk, links=links)
    return [(org.pk, m.pk) for m in messages]


def _paths(targets: list[tuple[int, int]], total: int) -> list[str]:
    from outreach.tracking.tokens import token_make

    rng = random.Random(11)
    paths = []
    for n in range(total):
        org_id, message_id = targets[n % len(targets)]
        if n % 2:
            token = token_make(kind="c", org_id=org_id, message_id=message_id, link_index=rng.randrange(2))
            paths.append(f"/t/c/{token}")
        else:
            paths.append(f"/t/o/{token_make(kind='o', org_id=org_id, message_id=message_id)}.gif")
    return paths


async def _one(host: str, port: int, path: str, agent: str) -> bool:
    """One HTTP/1.1 request on a new connection (`Connection: close`, as a mail client's image fetch is); True on
    200 or 302."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()  # to the server's close: the whole answer
        return status_line.split(b" ", 2)[1] in (b"200", b"302")
    finally:
        writer.close()


async def _fire(base: str, paths: list[str], concurrency: int) -> tuple[list[float], int, int, float]:
    """`concurrency` connections at a time until every path was requested; per-request latency in seconds."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    ok = failed = 0
    queue = list(reversed(paths))

    async def worker(seed: int) -> None:
        nonlocal ok, failed
        rng = random.Random(seed)
        while queue:
            path = queue.pop()
            agent = AGENTS[0] if rng.random() < 0.85 else rng.choice(AGENTS)
            started = time.perf_counter()
            try:
                good = await asyncio.wait_for(_one(host, int(port), path, agent), timeout=30)
            except (OSError, TimeoutError, IndexError):
                good = False
            latencies.append(time.perf_counter() - started)
            ok, failed = ok + good, failed + (not good)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, ok, failed, time.perf_counter() - started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_http(base: str, path: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(base + path, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer")


def _drained(expected: int, timeout: float = 900) -> tuple[int, int, float]:
    """(stored, distinct external ids, seconds waited) once the stored hits stop growing or reach `expected`."""
    from django.db.models import Count

    from outreach.models import Event
    from outreach.tracking.buffer import buffer_length

    started = time.monotonic()
    last, still_since = -1, time.monotonic()
    while time.monotonic() - started < timeout:
        stored = Event.objects.unscoped().filter(kind__in=["opened", "clicked"]).count()
        if stored >= expected and buffer_length() == 0:
            break
        if stored != last:
            last, still_since = stored, time.monotonic()
        elif time.monotonic() - still_since > 120:
            break
        time.sleep(0.5)
    hits = Event.objects.unscoped().filter(kind__in=["opened", "clicked"])
    distinct = hits.aggregate(n=Count("external_id", distinct=True))["n"]
    return hits.count(), distinct, time.monotonic() - started


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--web-workers",
        type=int,
        default=None,
        help="default: 1 for asgi (the client, Redis and the writer share the other core), 4 for wsgi",
    )
    parser.add_argument("--server", choices=sorted(SERVERS), default="asgi")
    args = parser.parse_args()
    args.web_workers = args.web_workers or (1 if args.server == "asgi" else 4)

    url = prepare_database(DB_NAME)
    directory = Path(tempfile.mkdtemp(prefix="lg-track-"))
    from outreach.tests.procs import RedisProc

    redis = RedisProc(directory)
    redis.start()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.test",
        "SITE_URL": "https://app.leadgen.test",
        "CELERY_SKIP_CHECKS": "1",
        "TRACKING_FLUSH_INTERVAL": "1",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(
        {k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SITE_URL")}
    )
    import django

    django.setup()
    targets = _seed(args.messages)
    paths = _paths(targets, args.requests)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    celery = [sys.executable, "-m", "celery", "-A", "leadgen"]
    procs = []
    try:
        procs.append(
            _start(
                [
                    str(bin_dir / "gunicorn"),
                    *SERVERS[args.server],
                    "-w",
                    str(args.web_workers),
                    "-b",
                    f"127.0.0.1:{port}",
                    "--backlog",
                    "2048",
                    "--preload",
                    "--timeout",
                    "120",
                    "--log-level",
                    "warning",
                ],
                env,
                directory / "gunicorn.log",
            )
        )
        procs.append(
            _start(
                [
                    *celery,
                    "worker",
                    "-Q",
                    "events",
                    "-P",
                    "prefork",
                    "-c",
                    "1",
                    "--without-mingle",
                    "--without-gossip",
                    "-l",
                    "warning",
                ],
                env,
                directory / "worker.log",
            )
        )
        procs.append(
            _start(
                [*celery, "beat", "-l", "warning", "-s", str(directory / "beat-schedule")],
                env,
                directory / "beat.log",
            )
        )
        _wait_http(base, "/healthz")
        warm = _paths(targets[:1], 2 * args.web_workers * 10)
        uvloop.run(_fire(base, warm, args.web_workers * 2))
        warmed = len(warm)
        web = _children(procs[0].pid)
        load_before = os.getloadavg()
        web_cpu, own_cpu = cpu_seconds(web), time.process_time()
        latencies, ok, failed, elapsed = uvloop.run(_fire(base, paths, args.concurrency))
        web_cpu, own_cpu = cpu_seconds(web) - web_cpu, time.process_time() - own_cpu
        load_after = os.getloadavg()
        stored, distinct, waited = _drained(ok + warmed)
    finally:
        _stop(procs)
        redis.stop()
    result = {
        "bench": "tracking",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "web": f"gunicorn {' '.join(SERVERS[args.server])}, {args.web_workers} workers",
        "requests": args.requests,
        "concurrency": args.concurrency,
        "requests_per_second": round(args.requests / elapsed, 1),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50) * 1000, 2),
            "p90": round(_percentile(latencies, 0.90) * 1000, 2),
            "p99": round(_percentile(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
            "mean": round(statistics.fmean(latencies) * 1000, 2),
        },
        # CPU the gunicorn workers spent per request: what the figure would be on cores of our own.
        "web_cpu_ms_per_request": round(web_cpu / args.requests * 1000, 3),
        "web_requests_per_cpu_second": round(args.requests / web_cpu, 1) if web_cpu else None,
        "client_cpu_ms_per_request": round(own_cpu / args.requests * 1000, 3),
        "answered_ok": ok,
        "failed": failed,
        "sent_including_warmup": ok + warmed,
        "stored": stored,
        "stored_distinct_external_ids": distinct,
        "every_hit_stored_once": stored == distinct == ok + warmed,
        "seconds_to_drain_after_load": round(waited, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / "tracking.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["every_hit_stored_once"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
