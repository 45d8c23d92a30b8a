"""The pipeline on the real stack: imports, API and discovery runs flow through a real Celery worker into enrichment
(local provider fakes), offline embeddings, rules qualification and routing (notifications, Slack, signed webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditLog
from conftest import Tenant, make_tenant
from leadgen import signing
from prospects.imports import services as importing
from prospects.models import (
    ICP,
    Activity,
    DiscoveryRun,
    Import,
    ImportStatus,
    Notification,
    PipelineSettings,
    Prospect,
    ProspectEmbedding,
    Qualification,
    WebhookEndpoint,
    WebhookMessage,
)
from prospects.routing import notifications, slack, webhooks
from prospects.routing import services as routing
from prospects.scoring import pipeline
from prospects.tests.factories import (
    DiscoveryRunFactory,
    ICPFactory,
    LeadFormFactory,
    PipelineSettingsFactory,
    ProspectFactory,
    WebhookEndpointFactory,
    WebhookMessageFactory,
)
from prospects.tests.fake_providers import APOLLO_KEY, HUNTER_KEY, FakeProviders, apollo_person

pytest_plugins = ["prospects.tests.fake_providers"]

WAIT_SECONDS = 90


# --- a local receiver for Slack and outbound webhooks -----------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records POSTs and answers queued statuses per path (then 200)."""

    received: list[Received] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                queued = receiver.statuses.get(self.path)
                status = queued.pop(0) if queued else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posts(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    # The SSRF guard blocks loopback: allowed here, for this test's own server only.
    settings.NETGUARD_ALLOW_LOOPBACK = True
    settings.NETGUARD_ALLOWED_PORTS = [80, 443, server.port]
    yield server
    server.server.shutdown()
    server.server.server_close()


def verify_standard_webhook(
    *, secret: str, headers: dict[str, str], body: bytes, tolerance: int = 300
) -> dict:
    """Standard Webhooks verification, written from the spec (not with our signing code)."""
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) < tolerance, "stale timestamp"
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = base64.b64encode(
        hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    ).decode()
    signatures = [
        part.split(",", 1)[1] for part in headers["webhook-signature"].split(" ") if part.startswith("v1,")
    ]
    assert any(hmac.compare_digest(expected, sig) for sig in signatures), "bad signature"
    return json.loads(body)


def wait_for(condition: Callable[[], Any], *, timeout: float = WAIT_SECONDS, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def committed(transactional_db: None) -> Tenant:
    return make_tenant("Pipeline")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


def _setup_org(
    tenant: Tenant, *, threshold: int = 30, slack_url: str = "", hunter: bool = False, apollo: bool = False
) -> ICP:
    with tenant.scope():
        PipelineSettings.objects.update_or_create(
            org=tenant.org,
            defaults={
                "qualification_threshold": threshold,
                "slack_webhook_url": slack_url,
                "hunter_api_key": HUNTER_KEY if hunter else "",
                "apollo_api_key": APOLLO_KEY if apollo else "",
                "monthly_budget_usd": Decimal("50"),
            },
        )
        return ICP.objects.create(
            org=tenant.org,
            name="Ops leaders in robotics",
            description="VP and heads of operations at warehouse robotics companies",
            criteria={"title_keywords": ["operations"], "seniorities": ["vp", "head"]},
        )


# --- imports flow through the pipeline -----------------------------------------------------------------------


def test_imported_csv_is_enriched_embedded_and_qualified_by_the_worker(
    committed: Tenant, celery_worker: Any, fake_providers: FakeProviders
) -> None:
    tenant = committed
    _setup_org(tenant, hunter=True)
    fake_providers.add_company("robotics-one.test", "Robotics One")
    csv = (
        "email,first_name,last_name,title,company,website\n"
        "ana@robotics-one.test,Ana,Lopez,VP Operations,Robotics One,robotics-one.test\n"
        "bo@robotics-one.test,Bo,Berg,Head of Operations,Robotics One,robotics-one.test\n"
        "cy@gardening.test,Cy,Chen,Gardener,Gardening Co,gardening.test\n"
    )
    job = importing.import_create(
        org=tenant.org, user=tenant.owner, upload=SimpleUploadedFile("ops.csv", csv.encode()), name="ops.csv"
    )
    with tenant.scope():
        importing.import_start(job=job, mapping=job.mapping, update_existing=True, tags="")

    def all_scored() -> bool:
        with tenant.scope():
            return (
                Prospect.objects.count() == 3 and not Prospect.objects.filter(scored_at__isnull=True).exists()
            )

    wait_for(all_scored, what="the imported prospects to be scored")
    assert Import.objects.unscoped().get(pk=job.pk).status == ImportStatus.DONE
    with tenant.scope():
        prospects = {p.email: p for p in Prospect.objects.select_related("company")}
        assert all(p.enriched_at is not None for p in prospects.values())
        # Hunter's fake knows the company: the waterfall filled its industry.
        assert prospects["ana@robotics-one.test"].company.industry == "Industrial Machinery"
        assert ProspectEmbedding.objects.count() == 3
        assert Qualification.objects.count() == 3
        ana, cy = prospects["ana@robotics-one.test"], prospects["cy@gardening.test"]
        assert ana.score is not None and cy.score is not None and ana.score > cy.score
        assert ana.stage == "qualified"
        assert not Activity.objects.filter(kind="pipeline_failed").exists()


def test_web_form_lead_enters_the_pipeline(committed: Tenant, celery_worker: Any) -> None:
    from django.test import Client

    tenant = committed
    _setup_org(tenant)
    lead_form = LeadFormFactory(org=tenant.org, name="Demo request")
    response = Client().post(
        reverse("lead_form_submit", kwargs={"form_key": lead_form.key}),
        {"email": "lead@robotics-three.test", "name": "Lee Form", "job_title": "Head of Operations"},
    )
    assert response.status_code in (200, 201, 302), response.content

    def scored() -> Prospect | None:
        with tenant.scope():
            return Prospect.objects.filter(email="lead@robotics-three.test", scored_at__isnull=False).first()

    prospect = wait_for(scored, what="the form lead to be scored")
    assert prospect.source == "form" and prospect.enriched_at is not None


def test_import_completion_finds_exactly_the_rows_it_wrote(committed: Tenant, settings: Any) -> None:
    settings.PIPELINE_AUTO_ENQUEUE = False  # this test reads the ids only
    tenant = committed
    with tenant.scope():
        before = ProspectFactory(org=tenant.org, email="old@x.test")
    job = importing.import_create(
        org=tenant.org,
        user=tenant.owner,
        upload=SimpleUploadedFile(
            "a.csv", b"email,first_name\nnew1@x.test,A\nnew2@x.test,B\nold@x.test,Changed\n"
        ),
        name="a.csv",
    )
    Import.objects.unscoped().filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    done = importing.import_run(org_id=tenant.org.pk, import_id=job.pk)
    assert done is not None and done.status == ImportStatus.DONE
    with tenant.scope():
        # Someone edits another prospect while the import runs: not the import's, so not sent again.
        bystander = ProspectFactory(org=tenant.org, email="bystander@x.test")
        assert done.started_at is not None and done.finished_at is not None
        during = done.started_at + (done.finished_at - done.started_at) / 2
        Prospect.objects.filter(pk=bystander.pk).update(updated_at=during)
        pages = list(pipeline.import_prospect_ids(job=done))
        ids = set(Prospect.objects.exclude(pk=bystander.pk).values_list("pk", flat=True))
    assert {pk for page in pages for pk in page} == ids and before.pk in ids and len(ids) == 3


# --- a threshold crossing routes the prospect --------------------------------------------------------------------


def test_api_prospect_crossing_the_threshold_notifies_slacks_and_sends_signed_webhooks(
    committed: Tenant, celery_worker: Any, receiver: Receiver
) -> None:
    tenant = committed
    _setup_org(tenant, threshold=30, slack_url=receiver.url("/slack"))
    with tenant.scope():
        endpoint, secret = webhooks.webhook_endpoint_create(
            org=tenant.org, url=receiver.url("/hook"), events=["prospect.qualified"], actor=tenant.owner
        )
        # Not subscribed / disabled endpoints get nothing.
        WebhookEndpointFactory(org=tenant.org, url=receiver.url("/off"), is_active=False)
    receiver.statuses["/hook"] = [500]  # the first webhook attempt fails; the retry must get through

    response = tenant.api().post(
        "/api/v1/prospects",
        {
            "email": "vp@robotics-two.test",
            "first_name": "Vera",
            "last_name": "Page",
            "title": "VP Operations",
            "company_name": "Robotics Two",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    prospect_id = response.json()["id"]

    hooks = wait_for(
        lambda: len(receiver.posts("/hook")) >= 2 and receiver.posts("/hook"), what="webhook retry"
    )
    first, second = hooks[0], hooks[1]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # same message, retried
    event = verify_standard_webhook(secret=secret, headers=second.headers, body=second.body)
    assert event["type"] == "prospect.qualified"
    assert event["data"]["id"] == prospect_id and event["data"]["email"] == "vp@robotics-two.test"
    assert event["data"]["score"] >= 30
    with pytest.raises(AssertionError, match="bad signature"):
        verify_standard_webhook(
            secret=signing.webhook_secret_generate(), headers=second.headers, body=second.body
        )
    assert receiver.posts("/off") == []

    def delivered() -> WebhookMessage | None:
        with tenant.scope():
            return WebhookMessage.objects.filter(endpoint=endpoint, status="delivered").first()

    message = wait_for(delivered, what="the message to be marked delivered")
    assert (message.attempts, message.last_status_code) == (2, 200)

    slack = wait_for(lambda: receiver.posts("/slack"), what="the Slack message")
    payload = json.loads(slack[0].body)
    assert "Vera Page" in payload["text"] and "qualified" in payload["text"]
    assert payload["blocks"][0]["type"] == "section"

    with tenant.scope():
        recipients = set(Notification.objects.values_list("user_id", flat=True))
        assert recipients == {
            tenant.owner.pk,
            tenant.admin.pk,
        }  # owners and admins; the member owns nothing here
        assert Activity.objects.filter(prospect_id=prospect_id, kind=routing.CROSSED_KIND).count() == 1
        # Routing the same crossing again changes nothing (idempotent task).
        assert routing.prospect_route(prospect_id=prospect_id) is False
        assert Notification.objects.count() == 2

    # The bell shows the count, and the notifications page lists it.
    badge = tenant.admin_client.get(reverse("notification_badge"), HTTP_HX_REQUEST="true")
    assert b">1</mark>" in badge.content
    page = tenant.admin_client.get(reverse("notification_list"))
    assert b"Vera Page" in page.content
    tenant.admin_client.post(reverse("notification_read_all"))
    badge = tenant.admin_client.get(reverse("notification_badge"), HTTP_HX_REQUEST="true")
    assert b"<mark" not in badge.content
    assert tenant.member_client.get(reverse("notification_list")).content.count(b"Vera Page") == 0


def test_webhook_that_keeps_failing_is_marked_failed_with_its_attempts(
    committed: Tenant, celery_worker: Any, receiver: Receiver, settings: Any
) -> None:
    tenant = committed
    receiver.statuses["/down"] = [503] * 10
    with tenant.scope():
        endpoint, _secret = webhooks.webhook_endpoint_create(
            org=tenant.org, url=receiver.url("/down"), events=["prospect.qualified"], actor=None
        )
        message = WebhookMessageFactory(
            org=tenant.org,
            endpoint=endpoint,
            message_id="msg_test1",
            payload={"type": "prospect.qualified", "data": {"id": 1}},
        )
    from prospects.routing.tasks import webhook_deliver_task

    settings.WEBHOOK_RETRY_BACKOFF = 0
    webhook_deliver_task.delay(tenant.org.pk, message.pk)

    def gave_up() -> WebhookMessage | None:
        with tenant.scope():
            return WebhookMessage.objects.filter(pk=message.pk, status="failed").first()

    failed = wait_for(gave_up, what="the message to be given up")
    assert failed.attempts == 9 and failed.last_status_code == 503  # the first try and 8 retries
    assert len(receiver.posts("/down")) == 9


def test_user_supplied_urls_go_through_the_ssrf_guard(tenant: Tenant) -> None:
    from django.core.exceptions import ValidationError

    with tenant.scope(), pytest.raises(ValidationError, match="cannot be used"):
        webhooks.webhook_endpoint_create(
            org=tenant.org, url="http://169.254.169.254/latest", events=["prospect.qualified"], actor=None
        )
    with tenant.scope():
        PipelineSettingsFactory(org=tenant.org, slack_webhook_url="http://127.0.0.1/slack")
        prospect = ProspectFactory(org=tenant.org)
        # Blocked, not sent and not retried.
        assert slack.slack_prospect_notify(prospect_id=prospect.pk) is False


# --- discovery runs ----------------------------------------------------------------------------------------------


def test_discovery_run_via_api_counts_against_the_fake_apollo(
    committed: Tenant, celery_worker: Any, fake_providers: FakeProviders
) -> None:
    tenant = committed
    icp = _setup_org(tenant, apollo=True)
    for index, title in enumerate(["VP Operations", "Head of Operations", "Operations Intern"]):
        person = apollo_person(f"p{index}@found-{index}.test", f"found-{index}.test", f"Found {index}")
        person.update(
            id=f"apollo-{index}",
            title=title,
            first_name=f"P{index}",
            linkedin_url=f"https://linkedin.com/in/p{index}",
        )
        fake_providers.search_people.append(person)
    locked = apollo_person("", "x.test", "X")
    locked.update(email="email_not_unlocked@x.test", linkedin_url="https://linkedin.com/in/locked")
    fake_providers.search_people.append(locked)

    response = tenant.api().post(
        "/api/v1/discovery-runs",
        {"icp_id": icp.pk, "sources": ["apollo"], "max_prospects": 10, "min_score": 0},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["id"]

    def finished() -> dict | None:
        body = tenant.api().get(f"/api/v1/discovery-runs/{run_id}").json()
        return body if body["status"] in ("done", "failed") else None

    body = wait_for(finished, what="the discovery run to finish")
    assert body["status"] == "done", body
    # Three people with addresses (the locked-email hit has a LinkedIn URL, so it is kept too).
    assert body["discovered"] == 4
    assert body["enriched"] == 4
    assert body["qualified"] + body["disqualified"] == 4
    assert body["failed"] == 0
    assert fake_providers.calls("/api/v1/mixed_people/api_search")[0].body["person_titles"] == ["operations"]
    with tenant.scope():
        assert set(Prospect.objects.values_list("source", flat=True)) == {"discovery"}
        assert Prospect.objects.filter(email="").count() == 1

    # The page shows the same counts; the HTMX poll answers the counts partial only.
    page = tenant.member_client.get(reverse("discovery_run_detail", args=[run_id]))
    assert b'data-count="discovered">4<' in page.content
    partial = tenant.member_client.get(reverse("discovery_run_detail", args=[run_id]), HTTP_HX_REQUEST="true")
    assert partial.content.lstrip().startswith(b'<section id="discovery-counts"')
    assert b"hx-trigger" not in partial.content  # finished: polling stops

    # Running it again finds the same people: deduplicated, nothing new.
    again = (
        tenant.api()
        .post(
            "/api/v1/discovery-runs",
            {"icp_id": icp.pk, "sources": ["apollo"]},
            content_type="application/json",
        )
        .json()
    )
    wait_for(lambda: tenant.api().get(f"/api/v1/discovery-runs/{again['id']}").json()["status"] == "done")
    with tenant.scope():
        assert Prospect.objects.count() == 4


def test_discovery_rejects_unknown_sources_and_missing_keys(tenant: Tenant, other_tenant: Tenant) -> None:
    icp = ICPFactory(org=tenant.org, name="Any")
    api = tenant.api()
    unknown = api.post(
        "/api/v1/discovery-runs", {"icp_id": icp.pk, "sources": ["linkedin"]}, content_type="application/json"
    )
    assert unknown.status_code == 422
    assert "Unknown source(s): linkedin" in unknown.json()["detail"]
    no_key = api.post(
        "/api/v1/discovery-runs", {"icp_id": icp.pk, "sources": ["apollo"]}, content_type="application/json"
    )
    assert no_key.status_code == 422 and "Apollo API key" in no_key.json()["detail"]
    too_many = api.post(
        "/api/v1/discovery-runs",
        {"icp_id": icp.pk, "sources": ["apollo"], "max_prospects": 100000},
        content_type="application/json",
    )
    assert too_many.status_code == 422
    other = other_tenant.api().post(
        "/api/v1/discovery-runs", {"icp_id": icp.pk, "sources": ["apollo"]}, content_type="application/json"
    )
    assert other.status_code == 404
    with tenant.scope():
        assert not DiscoveryRun.objects.exists()


def test_discovery_page_starts_a_run_and_lists_runs(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    icp = ICPFactory(org=tenant.org, name="Robotics ops")
    PipelineSettingsFactory(org=tenant.org, apollo_api_key=APOLLO_KEY)
    DiscoveryRunFactory.create_batch(5, org=tenant.org, icp=icp, status="done")
    with django_assert_max_num_queries(12):
        page = tenant.member_client.get(reverse("discovery_run_list"))
    assert page.status_code == 200 and page.content.count(b"Robotics ops") >= 5
    response = tenant.member_client.post(
        reverse("discovery_run_list"),
        {"icp": icp.pk, "sources": ["apollo"], "max_prospects": 20, "min_score": 50},
    )
    with tenant.scope():
        run = DiscoveryRun.objects.order_by("-pk").first()
    assert run is not None and (run.max_prospects, run.min_score, run.status) == (20, 50, "queued")
    assert response.status_code == 302 and response["Location"] == reverse(
        "discovery_run_detail", args=[run.pk]
    )
    detail = tenant.member_client.get(response["Location"])
    assert b'hx-trigger="every 2s"' in detail.content  # queued: the counts poll


# --- failures never drop a prospect ----------------------------------------------------------------------------


def test_a_step_that_gives_up_records_the_failure_and_counts_it(tenant: Tenant) -> None:
    run = DiscoveryRunFactory(org=tenant.org, status="running", discovered=2)
    a, b = ProspectFactory(org=tenant.org), ProspectFactory(org=tenant.org)
    pipeline.pipeline_step_gave_up(
        org_id=tenant.org.pk,
        step="qualify",
        prospect_ids=[a.pk, b.pk],
        discovery_run_id=run.pk,
        failed_ids=[a.pk],
        error=RuntimeError("provider down"),
    )
    with tenant.scope():
        run.refresh_from_db()
        failures = list(Activity.objects.filter(kind="pipeline_failed").values_list("prospect_id", "data"))
    assert (run.failed, run.qualified, run.disqualified, run.status) == (2, 0, 0, "done")
    assert sorted(pk for pk, _ in failures) == sorted([a.pk, b.pk])
    assert all(data["step"] == "qualify" and "provider down" in data["error"] for _, data in failures)


# --- settings pages, the bell -------------------------------------------------------------------------------


def test_admin_creates_a_webhook_endpoint_and_sees_the_secret_once(tenant: Tenant) -> None:
    response = tenant.admin_client.post(
        reverse("webhook_endpoint_list"),
        {"url": "https://hooks.example.com/leadgen", "events": ["prospect.qualified"]},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="webhook-secret">whsec_' in body
    with tenant.scope():
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.secret.startswith("whsec_") and endpoint.secret in body
        assert AuditLog.objects.filter(action="webhook_endpoint.create").exists()
    listing = tenant.admin_client.get(reverse("webhook_endpoint_list")).content.decode()
    assert "hooks.example.com/leadgen" in listing and endpoint.secret not in listing
    detail = tenant.admin_client.get(reverse("webhook_endpoint_detail", args=[endpoint.pk]))
    assert detail.status_code == 200 and endpoint.secret not in detail.content.decode()
    tenant.admin_client.post(reverse("webhook_endpoint_detail", args=[endpoint.pk]), {"action": "disable"})
    with tenant.scope():
        assert WebhookEndpoint.objects.get().is_active is False
    assert tenant.member_client.get(reverse("webhook_endpoint_list")).status_code == 404
    blocked = tenant.admin_client.post(
        reverse("webhook_endpoint_list"), {"url": "http://10.0.0.5/hook", "events": ["prospect.qualified"]}
    )
    assert blocked.status_code == 400 and b"cannot be used" in blocked.content


def test_pages_do_not_pay_a_query_for_the_bell(tenant: Tenant) -> None:
    with tenant.scope():
        notifications.notifications_create(
            org_id=tenant.org.pk, user_ids=[tenant.owner.pk], kind="x", title="Hello bell", url="/"
        )
    with CaptureQueriesContext(connection) as queries:
        page = tenant.owner_client.get(reverse("prospect_list"))
    assert b'id="notification-count"' in page.content
    assert not [q for q in queries.captured_queries if "prospects_notification" in q["sql"]]
    # The badge itself: one count, then cached.
    with CaptureQueriesContext(connection) as first:
        tenant.owner_client.get(reverse("notification_badge"))
    with CaptureQueriesContext(connection) as second:
        badge = tenant.owner_client.get(reverse("notification_badge"))
    assert b">1</mark>" in badge.content
    notification_queries = [q for q in first.captured_queries if "prospects_notification" in q["sql"]]
    assert len(notification_queries) == 1
    assert not [q for q in second.captured_queries if "prospects_notification" in q["sql"]]
