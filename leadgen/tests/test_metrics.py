"""/metrics: off by default, behind a bearer token or an address allowlist, and the metric names a dashboard needs;
task outcomes counted by a real Celery worker; JSON logs in production settings."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from conftest import Tenant
from leadgen.jsonlog import JsonFormatter
from leadgen.tasks import heartbeat
from prospects.models import EnrichmentLog

TOKEN = "scrape-token-0123456789"


def _scrape(client: Client) -> tuple[str, dict[str, list[tuple[dict[str, str], float]]]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return text, samples


@pytest.mark.django_db
def test_metrics_are_off_without_a_token_or_allowlist(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


@pytest.mark.django_db
def test_metrics_need_the_token(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.django_db
def test_metrics_allowlist(settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 404
    # A forged X-Forwarded-For does not get in without a trusted proxy.
    assert Client(REMOTE_ADDR="10.2.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3").get("/metrics").status_code == 404


def test_scrape_has_requests_queues_tasks_steps_and_spend(tenant: Tenant, celery_worker, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    with tenant.scope():
        EnrichmentLog.objects.create(org=tenant.org, provider="apollo", cost_usd=Decimal("0.25"))
    assert tenant.api().get("/api/v1/prospects").status_code == 200
    heartbeat.delay()
    client = Client()
    deadline = time.monotonic() + 20
    while True:
        text, families = _scrape(client)
        done = [
            labels
            for labels, value in families.get("leadgen_celery_tasks_total", [])
            if labels["task"] == "leadgen.tasks.heartbeat" and labels["queue"] == "default" and value >= 1
        ]
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert done and done[0]["outcome"] == "success"
    routes = {labels["route"] for labels, _ in families["leadgen_http_request_duration_seconds_count"]}
    assert any(route.startswith("api") and "prospect" in route for route in routes), routes
    queues = {labels["queue"]: value for labels, value in families["leadgen_celery_queue_length"]}
    assert set(queues) == set(settings.CELERY_TASK_QUEUES_NAMES)
    assert any(
        labels["task"] == "leadgen.tasks.heartbeat"
        for labels, _ in families["leadgen_celery_task_duration_seconds_count"]
    )
    assert ({"provider": "apollo"}, 0.25) in families["leadgen_enrichment_spend_usd_month"]
    assert (
        "# TYPE leadgen_ai_spend_usd_month gauge" in text
    )  # no samples until an LLM judgement costs something
    assert "# TYPE leadgen_pipeline_step_duration_seconds histogram" in text


def test_production_logs_are_json_lines() -> None:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.LOGGING['handlers']['console']['formatter'])"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.production",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "crm.example.com",
        "FIELD_ENCRYPTION_KEYS": "k",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "json", result.stderr
    record = logging.makeLogRecord(
        {"name": "leadgen.x", "levelname": "WARNING", "msg": "hi %s", "args": ("there",), "status_code": 503}
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hi there" and line["level"] == "WARNING" and line["status_code"] == 503
