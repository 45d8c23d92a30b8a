"""CRM push throughput: N prospects sent to a local HubSpot fake through real Celery worker processes.

Run (embedded PostgreSQL):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/crm_bench.py [--prospects 1000]
        [--workers 2] [--concurrency 2] [--latency-ms 80] [--rate-limited 20]

What it does:

1. Re-creates and migrates its own database, `leadgen_bench_crm`.
2. Starts the HubSpot fake (prospects/tests/fake_crm.py) on 127.0.0.1 in this process, answering each call after
   `--latency-ms` (a stand-in for HubSpot's round trip), and queues `--rate-limited` 429 answers (Retry-After: 1)
   for the contact upsert, so retries are part of the run.
3. Seeds one organisation, a HubSpot connection and N prospects, each with a company (domain) and a judgement.
4. Starts a Redis of its own and `celery worker -P prefork` processes on the `enrich` queue (where CRM pushes are
   routed), and waits until they are ready.
5. Queues one push per prospect (`prospects.crm.services.crm_push_request`, one transaction): the clock starts at
   that commit. Each push is company search → create → contact upsert → association: four HubSpot calls.
6. Waits until every sync log is done (or none moved for 60 s). Throughput = N / (last done - queued). Duplicates =
   contacts in the fake beyond one per email. Writes bench/results/crm.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._db import prepare_database  # noqa: E402
from outreach.tests.procs import wait_ready  # noqa: E402

DB_NAME = "leadgen_bench_crm"


@contextlib.contextmanager
def _workers(*, count: int, concurrency: int, env: dict[str, str], directory: Path):  # type: ignore[no-untyped-def]
    procs = []
    try:
        for i in range(count):
            log = directory / f"worker{i}.log"
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "leadgen",
                "worker",
                "-Q",
                "enrich",
                "-P",
                "prefork",
            ]
            command += ["-c", str(concurrency), "-n", f"crm{i}@%h", "--without-mingle", "--without-gossip"]
            command += ["-l", "info", "-f", str(log)]
            procs.append(
                subprocess.Popen(
                    command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        for i in range(count):
            wait_ready(directory / f"worker{i}.log", timeout=120)
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _seed(n: int) -> tuple[Any, list[int]]:
    from accounts.models import Organization
    from leadgen.tenancy import org_scope
    from prospects.crm.connections import connection_save
    from prospects.models import ICP, Company, Prospect, Qualification
    from prospects.tests import fake_crm as fc

    org = Organization.objects.create(name="Bench", slug="bench-crm")
    with org_scope(org):
        connection_save(
            org=org,
            kind="hubspot",
            secrets={"token": fc.HUBSPOT_TOKEN},
            options={},
            mapping={},
            push_trigger="manual",
            actor=None,
        )
        icp = ICP.objects.create(org=org, name="Bench ICP")
        companies = Company.objects.bulk_create(
            [Company(org=org, name=f"Company {i}", domain=f"co{i}.test") for i in range(n)]
        )
        prospects = Prospect.objects.bulk_create(
            [
                Prospect(
                    org=org,
                    first_name="Pat",
                    last_name=f"Bench{i}",
                    email=f"pat{i}@co{i}.test",
                    email_normalized=f"pat{i}@co{i}.test",
                    company=c,
                    company_name=c.name,
                    company_domain=c.domain or "",
                    score=80,
                    tier="A",
                    icp_id=icp.pk,
                )
                for i, c in enumerate(companies)
            ]
        )
        Qualification.objects.bulk_create(
            [
                Qualification(
                    org=org,
                    prospect=p,
                    icp=icp,
                    score=80,
                    tier="A",
                    provider="rules",
                    input_hash=f"{p.pk:064x}",
                    reasoning="Bench reasoning.",
                    hooks=[{"text": "A hook", "evidence": {}}],
                )
                for p in prospects
            ]
        )
    return org, [p.pk for p in prospects]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prospects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=80)
    parser.add_argument("--rate-limited", type=int, default=20)
    args = parser.parse_args()

    from outreach.tests.procs import RedisProc
    from prospects.tests.fake_crm import FakeCrm

    url = prepare_database(DB_NAME)
    directory = Path(tempfile.mkdtemp(prefix="lg-crm-"))
    redis = RedisProc(directory)
    redis.start()
    fake = FakeCrm().start()
    fake.latency = args.latency_ms / 1000
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis.url,
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.test",
        "HUBSPOT_API_URL": fake.url,
        "CELERY_SKIP_CHECKS": "1",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(
        {k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "HUBSPOT_API_URL")}
    )
    import django

    django.setup()
    from django.db import transaction

    from leadgen.tenancy import org_scope
    from prospects.crm.models import CrmSyncLog, SyncStatus
    from prospects.crm.services import crm_push_request

    try:
        org, ids = _seed(args.prospects)
        fake.hubspot_rate_limit(
            "/crm/v3/objects/contacts/batch/upsert", retry_after=1, times=args.rate_limited
        )
        load_before = os.getloadavg()
        with _workers(count=args.workers, concurrency=args.concurrency, env=env, directory=directory):
            with org_scope(org), transaction.atomic():  # type: ignore[arg-type]
                crm_push_request(prospect_ids=ids, reason="bench")
            started = time.monotonic()
            last_progress, last_count, finished = time.monotonic(), -1, started
            while True:
                done = CrmSyncLog.objects.unscoped().filter(org=org, status=SyncStatus.OK).count()
                if done != last_count:
                    last_progress, last_count, finished = time.monotonic(), done, time.monotonic()
                if done == args.prospects or time.monotonic() - last_progress > 60:
                    break
                time.sleep(0.2)
        statuses = collections.Counter(
            CrmSyncLog.objects.unscoped().filter(org=org).values_list("status", flat=True)
        )
        attempts = collections.Counter(
            CrmSyncLog.objects.unscoped().filter(org=org).values_list("attempts", flat=True)
        )
    finally:
        fake.stop()
        redis.stop()
    emails = collections.Counter(c.get("email") for c in fake.hs_contacts.values())
    duplicates = sum(n - 1 for n in emails.values() if n > 1)
    seconds = finished - started
    result = {
        "benchmark": "crm_push",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "prospects": args.prospects,
        "workers": args.workers,
        "concurrency_per_worker": args.concurrency,
        "fake_latency_ms": args.latency_ms,
        "rate_limited_answers": args.rate_limited,
        "statuses": dict(statuses),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "hubspot_contacts": len(fake.hs_contacts),
        "duplicates": duplicates,
        "hubspot_calls": len(fake.requests),
        "seconds": round(seconds, 2),
        "pushes_per_second": round(statuses.get("ok", 0) / max(seconds, 1e-9), 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    (ROOT / "bench" / "results" / "crm.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if duplicates == 0 and statuses.get("ok") == args.prospects else 1


if __name__ == "__main__":
    sys.exit(main())
