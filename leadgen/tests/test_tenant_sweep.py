"""Every URL pattern and API operation, tried by another organisation: ids of org A answer 404 to org B."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import Tenant, make_tenant

from .sweep_registry import EXEMPT_PREFIXES, ID_FACTORIES, PUBLIC_KWARGS

PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
API_PREFIX = "api/v1/"


@dataclass
class Route:
    route: str
    name: str | None
    kwargs: list[str]

    @property
    def is_api(self) -> bool:
        return self.route.startswith(API_PREFIX)


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[Route]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            if str(pattern.pattern).startswith("^") or "(?P" in route:
                continue  # regex routes come only from Django's admin and ninja's docs assets
            yield Route(route, pattern.name, [m.group("name") for m in PARAM.finditer(route)])


def all_routes() -> list[Route]:
    return [r for r in _routes(get_resolver().url_patterns) if not r.route.startswith(EXEMPT_PREFIXES)]


def _url(route: Route, values: dict[str, Any]) -> str:
    return "/" + PARAM.sub(lambda m: str(values[m.group("name")]), route.route)


def test_every_id_route_is_registered() -> None:
    unknown = {
        f"{r.route} ({kwarg})"
        for r in all_routes()
        for kwarg in r.kwargs
        if kwarg not in ID_FACTORIES and kwarg not in PUBLIC_KWARGS
    }
    assert not unknown, f"add these URL kwargs to leadgen/tests/sweep_registry.py: {sorted(unknown)}"


def _client_for(tenant: Tenant, route: Route) -> Client:
    return tenant.api() if route.is_api else tenant.owner_client


def _methods(route: Route) -> list[str]:
    return ["get", "post", "patch", "put", "delete"] if route.is_api else ["get", "post"]


def _request(client: Client, method: str, url: str) -> int:
    kwargs: dict[str, Any] = {"content_type": "application/json", "data": "{}"} if method != "get" else {}
    return client.generic(method.upper(), url, **kwargs).status_code


ID_ROUTES = [r for r in all_routes() if r.kwargs and not set(r.kwargs) & set(PUBLIC_KWARGS)]


@pytest.mark.django_db
@pytest.mark.parametrize("route", ID_ROUTES, ids=[r.route for r in ID_ROUTES])
def test_other_org_gets_404(route: Route) -> None:
    a, b = make_tenant("Alpha"), make_tenant("Bravo")
    values = {kwarg: ID_FACTORIES[kwarg](a)[0] for kwarg in route.kwargs}
    url = _url(route, values)
    statuses = {m: _request(_client_for(b, route), m, url) for m in _methods(route)}
    # 422 is a body validation error raised before any lookup: it reveals nothing about org A's ids.
    allowed = {404, 405, 422} if route.is_api else {404, 405}
    assert set(statuses.values()) <= allowed, f"{url} leaked to another org: {statuses}"
    assert 404 in statuses.values(), f"{url} never answered 404 to another org: {statuses}"
    # Control: the owner of the object reaches it, so the 404 above came from scoping, not a broken URL.
    for method in _methods(route):
        status = _request(_client_for(a, route), method, url)
        if status != 405:
            assert status != 404, f"{method.upper()} {url} answers 404 to its own org too"
            break


LIST_ROUTES = [r for r in all_routes() if not r.kwargs and r.name not in {"api-root"}]


@pytest.mark.django_db
def test_list_pages_show_nothing_of_another_org() -> None:
    a, b = make_tenant("Alpha"), make_tenant("Bravo")
    markers = [factory(a)[1] for factory in ID_FACTORIES.values()]
    markers += [a.org.name, a.owner.email]
    checked = 0
    for route in LIST_ROUTES:
        response = _client_for(b, route).get(_url(route, {}))
        if response.status_code != 200 or "stream" in type(response).__name__.lower():
            continue
        body = response.content.decode(errors="replace")
        leaked = [marker for marker in markers if marker in body]
        assert not leaked, f"/{route.route} shows org A's data to org B: {leaked}"
        checked += 1
    assert checked >= 5
