"""Meta's Graph API, as far as Lead Ads need it: fetch one lead by its leadgen id.

Base URL and version come from settings (META_GRAPH_URL, META_GRAPH_VERSION) so tests talk to a local fake that
speaks the same JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

from leadgen.http import provider_client

log = logging.getLogger(__name__)

# Graph error codes that mean "try again later": unknown/transient errors and the rate limits.
TRANSIENT_GRAPH_CODES = frozenset({1, 2, 4, 17, 32, 341, 613})
LEAD_FIELDS = "id,created_time,field_data,form_id,ad_id,adset_id,campaign_id,is_organic,platform"


class GraphError(Exception):
    """The Graph API refused the request for good (bad token, unknown lead, missing permission)."""

    def __init__(self, message: str, *, status: int = 0, code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class GraphUnavailable(GraphError):
    """An outage, a timeout or a rate limit: the same request may work later."""


@dataclass
class GraphLead:
    id: str
    created_time: str = ""
    form_id: str = ""
    ad_id: str = ""
    campaign_id: str = ""
    # Each Graph field_data item: {"name": "email", "values": ["a@b.com"]}.
    field_data: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def _error(response: httpx.Response) -> GraphError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message") or f"HTTP {response.status_code}")[:500]
    transient = (
        response.status_code >= 500
        or response.status_code == 429
        or code in TRANSIENT_GRAPH_CODES
        or bool(error.get("is_transient"))
    )
    cls = GraphUnavailable if transient else GraphError
    return cls(f"Graph API: {message}", status=response.status_code, code=code)


def graph_lead_fetch(*, leadgen_id: str, access_token: str) -> GraphLead:
    """GET /<version>/<leadgen_id>; raises GraphUnavailable (retry) or GraphError (give up)."""
    if not access_token:
        raise GraphError("no page access token is configured for Meta Lead Ads")
    if not leadgen_id.isdigit():
        raise GraphError(f"not a leadgen id: {leadgen_id[:40]!r}")
    path = f"/{settings.META_GRAPH_VERSION}/{leadgen_id}"
    try:
        with provider_client(base_url=settings.META_GRAPH_URL) as client:
            response = client.get(path, params={"access_token": access_token, "fields": LEAD_FIELDS})
    except httpx.HTTPError as exc:
        raise GraphUnavailable(f"Graph API unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise _error(response)
    try:
        data = response.json()
    except ValueError:
        raise GraphUnavailable("Graph API answered with something that is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("field_data", []), list):
        raise GraphError("Graph API answered with an unexpected lead shape")
    return GraphLead(
        id=str(data.get("id") or leadgen_id),
        created_time=str(data.get("created_time") or ""),
        form_id=str(data.get("form_id") or ""),
        ad_id=str(data.get("ad_id") or ""),
        campaign_id=str(data.get("campaign_id") or ""),
        field_data=[item for item in data.get("field_data", []) if isinstance(item, dict)],
        raw=data,
    )
