"""Sending throughput: N queued messages to a local SMTP peer through 2 Celery worker processes.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/send_bench.py [--messages 3000]
        [--workers 2] [--concurrency 1]

What it does:

1. Re-creates and migrates its own database, `leadgen_bench_send`.
2. Starts a real SMTP server (aiosmtpd, outreach/tests/smtp_peer.py) on 127.0.0.1 in this process; it records
   every message it accepts.
3. Seeds one organisation (with a postal address) and one mailbox on the peer with no gap and a daily limit above
   N.
4. Starts a Redis of its own, `celery worker -P prefork` processes on the `send` queue and a beat
   (outreach/tests/procs.py), and waits until beat's dispatcher (every second) has run once on a worker, so
   process start-up is not counted.
5. Inserts N queued messages due now (one bulk insert): the clock starts at that commit. The dispatcher finds
   them and enqueues them in chunks (OUTREACH_SEND_CHUNK, 25); each worker claims its chunk, checks it, and for
   each message takes its slot (committed), sends over the kept SMTP connection and records the result.
6. Waits until every message is `sent` (or none moved for 30 s). Throughput = N / (last accepted by the peer -
   messages inserted), so dispatch latency is included. Duplicates = peer deliveries beyond one per Message-ID.
   Writes bench/results/send.json, with the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import prepare_database  # noqa: E402
from outreach.tests.procs import cpu_seconds  # noqa: E402

DB_NAME = "leadgen_bench_send"


def _postgrescpu_seconds() -> float:
    """CPU time of this database server's processes (the postmaster, its live backends, and through its
    children's times the backends that exited): the database's share of the work, when it runs on this machine
    (the embedded one does). Other PostgreSQL servers on a shared machine are not counted."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('data_directory')")
        data_directory = cursor.fetchone()[0]
    try:
        postmaster = int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        pid, fields = int(stat.parent.name), text[text.rindex(")") + 2 :].split()
        if pid == postmaster or int(fields[1]) == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def _wait_for_dispatcher(logs: Path, timeout: float = 120) -> None:
    """Until a worker has run beat's dispatcher once: beat, the broker and the workers are all up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in logs.glob("worker*.log"):
            text = log.read_text(errors="replace")
            if "messages_dispatch_task" in text and "succeeded" in text:
                return
        time.sleep(0.2)
    raise RuntimeError("beat's dispatcher never ran")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()

    url = prepare_database(DB_NAME)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "leadgen.settings.test"
    import django

    django.setup()
    from django.utils import timezone

    from accounts.models import Organization
    from outreach.models import Mailbox, Message, MessageStatus
    from outreach.services import message_id_make
    from outreach.tests.procs import send_stack
    from outreach.tests.smtp_peer import smtp_peer

    with smtp_peer() as peer:
        org = Organization.objects.create(
            name="Bench", slug="bench", postal_address="1 Bench Road, Testville"
        )
        mailbox = Mailbox.objects.unscoped().create(
            org=org,
            name="Bench",
            from_email="bench@bench.test",
            smtp_host=peer.host,
            smtp_port=peer.port,
            smtp_security="none",
            daily_limit=args.messages + 1,
            min_interval_seconds=0,
            jitter_seconds=0,
        )
        env = {"OUTREACH_DISPATCH_BATCH": "5000", "OUTREACH_SEND_CHUNK": "25", "LOG_LEVEL": "WARNING"}
        load_before = os.getloadavg()
        with send_stack(
            database_url=url, workers=args.workers, concurrency=args.concurrency, beat=True, env=env
        ) as stack:
            _wait_for_dispatcher(stack.logs)
            # From here on: the CPU of the send itself, not of process start-up.
            procs = [p.pid for p in stack.workers] + stack.worker_children()
            procs += [stack.beat.pid] if stack.beat else []
            cpu_before = (cpu_seconds(procs), os.times(), _postgrescpu_seconds())
            now = timezone.now()
            Message.objects.unscoped().bulk_create(
                [
                    Message(
                        org=org,
                        mailbox=mailbox,
                        send_key=f"bench:{i}",
                        to_email=f"r{i}@example.test",
                        subject=f"Bench {i}",
                        body_text="Hello,\n\nA benchmark message.\n",
                        message_id=message_id_make(from_email=mailbox.from_email),
                        scheduled_at=now,
                        queued_at=now,
                        status=MessageStatus.QUEUED,
                    )
                    for i in range(args.messages)
                ],
                batch_size=1000,
            )
            started = time.monotonic()
            last_progress, last_count = time.monotonic(), -1
            while True:
                sent = Message.objects.unscoped().filter(org=org, status=MessageStatus.SENT).count()
                if sent == args.messages:
                    break
                if sent != last_count:
                    last_progress, last_count = time.monotonic(), sent
                elif time.monotonic() - last_progress > 30:
                    break
                time.sleep(0.25)
            time.sleep(1)
            cpu_after = (cpu_seconds(procs), os.times(), _postgrescpu_seconds())
        received = list(peer.received)
    mine = [(t.user + t.system) for t in (cpu_before[1], cpu_after[1])]
    cpu = {
        "workers_and_beat": cpu_after[0] - cpu_before[0],
        "smtp_peer_and_bench": mine[1] - mine[0],
        "postgres": cpu_after[2] - cpu_before[2],
    }
    statuses = collections.Counter(
        Message.objects.unscoped().filter(org=org).values_list("status", flat=True)
    )
    ids = collections.Counter(r.message["Message-ID"] for r in received)
    duplicates = sum(n - 1 for n in ids.values() if n > 1)
    first, last = min(r.at for r in received), max(r.at for r in received)
    result = {
        "benchmark": "send",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "messages": args.messages,
        "workers": args.workers,
        "concurrency_per_worker": args.concurrency,
        "received_by_peer": len(received),
        "duplicates": duplicates,
        "statuses": dict(statuses),
        "seconds_from_insert": round(last - started, 2),
        "seconds_first_to_last_delivery": round(last - first, 2),
        "messages_per_second": round(len(received) / (last - started), 1),
        "messages_per_second_steady": round(len(received) / max(last - first, 1e-9), 1),
        # CPU spent per message, whatever else runs on the machine (the figure to compare across runs).
        "cpu_ms_per_message": {k: round(v * 1000 / max(len(received), 1), 2) for k, v in cpu.items()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    out = ROOT / "bench" / "results" / "send.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if duplicates == 0 and statuses.get("sent") == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
