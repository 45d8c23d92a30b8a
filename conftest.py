"""Shared fixtures: organisations with members, logged-in clients, API keys, a real Celery worker."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client

from accounts.models import ApiKey, Membership, Organization, Role, User
from accounts.tests.factories import MembershipFactory, OrganizationFactory, UserFactory, apikey_for
from leadgen.tenancy import org_scope


@dataclass
class Tenant:
    """One organisation with an owner, an admin, a member, clients logged in as each, and an API key."""

    org: Organization
    owner: User
    admin: User
    member: User
    owner_client: Client
    admin_client: Client
    member_client: Client
    api_key: ApiKey
    api_secret: str

    def api(self) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {self.api_secret}")

    def scope(self) -> Any:
        return org_scope(self.org)

    def membership(self, user: User) -> Membership:
        return Membership.objects.unscoped().get(org=self.org, user=user)


def make_tenant(name: str = "Acme") -> Tenant:
    org = OrganizationFactory(name=name)
    users = {}
    clients = {}
    for role in (Role.OWNER, Role.ADMIN, Role.MEMBER):
        user = UserFactory()
        MembershipFactory(org=org, user=user, role=role)
        client = Client()
        client.force_login(user)
        users[role] = user
        clients[role] = client
    key, secret = apikey_for(org, created_by=users[Role.OWNER])
    return Tenant(
        org=org,
        owner=users[Role.OWNER],
        admin=users[Role.ADMIN],
        member=users[Role.MEMBER],
        owner_client=clients[Role.OWNER],
        admin_client=clients[Role.ADMIN],
        member_client=clients[Role.MEMBER],
        api_key=key,
        api_secret=secret,
    )


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant("Acme")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant("Globex")


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Rate-limit counters and heartbeats live in Redis; each test starts from an empty cache."""
    cache.clear()
    yield


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup: None, django_db_blocker: Any) -> Iterator[Any]:
    """A real Celery worker (thread pool) consuming every queue from the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from leadgen.celery_app import app

    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=settings.CELERY_TASK_QUEUES_NAMES,
        shutdown_timeout=30,
    ) as worker:
        yield worker
    # The worker's threads kept their own connections to the test database; close them so it can be dropped.
    # Best effort: failing here must never fail the run, only leave the old "database in use" warning.
    _terminate_other_connections(django_db_blocker)


def _terminate_other_connections(django_db_blocker: Any, *, busy_only: bool = False) -> None:
    """End other client connections to the test database (the worker's threads); with busy_only, only those inside
    a transaction or a query, which are the ones holding locks (an idle live-server connection is left alone)."""
    with contextlib.suppress(Exception), django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND (state <> 'idle' OR NOT %s)",
            [busy_only],
        )


def _drain_worker(app: Any, timeout: float = 10.0) -> None:
    """Wait until the worker has nothing queued, reserved or running (tasks a test's tasks enqueued included)."""
    import time

    from celery.worker import state

    queues = settings.CELERY_TASK_QUEUES_NAMES
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        while time.monotonic() < deadline:
            busy = bool(state.active_requests or state.reserved_requests) or any(
                client.llen(q) for q in queues
            )
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.2:
                return
            time.sleep(0.02)
        # Still busy (a retry waiting out its backoff, say): drop what is queued so the next test starts clean.
        app.control.purge()


@pytest.fixture
def celery_worker(
    transactional_db: None, celery_worker_session: Any, django_db_blocker: Any
) -> Iterator[Any]:
    """Tests using the worker need committed rows: the worker runs in other threads with its own connections.

    Afterwards pytest-django truncates every table. A task still running then (one a test's tasks enqueued) would
    hold locks that make the TRUNCATE fail, so the worker is drained first, and any connection still inside a
    transaction is ended.
    """
    yield celery_worker_session
    _drain_worker(celery_worker_session.app)
    _terminate_other_connections(django_db_blocker, busy_only=True)
