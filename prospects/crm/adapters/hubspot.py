"""HubSpot through a private app token and the CRM v3 objects API.

Contacts are upserted by email (`/crm/v3/objects/contacts/batch/upsert`, `idProperty=email`), companies found by
`domain` through search and then updated or created, and the two associated with the default association
(`/crm/v4/objects/contact/{id}/associations/default/company/{id}`). Changes come from
`/crm/v3/objects/deals/search` on `hs_lastmodifieddate` (closed deals: `hs_is_closed_won` tells won from lost,
`closed_lost_reason` says why) with the deals' contacts read through the v4 associations batch API, and from a
contact search for `hs_lead_status = UNQUALIFIED` (disqualified).

Errors arrive as `{"status": "error", "message", "correlationId", "category"}`; a 429 carries `Retry-After` (or the
`X-HubSpot-RateLimit-*` headers: interval in milliseconds, calls remaining) and is raised as `CrmRateLimited`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings

from leadgen.http import provider_client
from prospects.crm.adapters.base import (
    Change,
    Changes,
    ContactPush,
    CrmAuthError,
    CrmError,
    CrmRateLimited,
    CrmTransientError,
    PushResult,
    parse_retry_after,
)

NAME = "HubSpot"
DEAL_PROPERTIES = [
    "dealname",
    "dealstage",
    "hs_is_closed",
    "hs_is_closed_won",
    "closed_lost_reason",
    "closed_won_reason",
    "hs_lastmodifieddate",
]
SEARCH_PAGE = 100
# A rate-limited answer without Retry-After: wait one interval (HubSpot's is 10 s for the burst limit).
DEFAULT_RATE_WAIT = 10.0


def _ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _rate_wait(response: httpx.Response) -> float:
    explicit = parse_retry_after(response.headers.get("retry-after"))
    if explicit is not None:
        return explicit
    interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds", "")
    if interval.isdigit():
        return int(interval) / 1000
    daily_left = response.headers.get("x-hubspot-ratelimit-daily-remaining", "")
    if daily_left == "0":
        return 3600.0
    return DEFAULT_RATE_WAIT


class HubSpot:
    name = NAME

    def __init__(self, *, token: str, base_url: str | None = None) -> None:
        if not token:
            raise CrmAuthError(NAME, "no private app token is set")
        self._client = provider_client(base_url=base_url or settings.HUBSPOT_API_URL)
        self._client.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self._client.close()

    # -- plumbing ----------------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, *, allow_404: bool = False) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise CrmTransientError(NAME, f"could not reach HubSpot: {exc or type(exc).__name__}") from exc
        if response.status_code < 300:
            return response.json() if response.content else {}
        if allow_404 and response.status_code == 404:
            return {}
        raise self._error(response)

    @staticmethod
    def _error(response: httpx.Response) -> CrmError:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        message = str(data.get("message") or response.reason_phrase or f"HTTP {status}")[:300]
        code = str(data.get("category") or data.get("errorType") or "")
        if status == 429:
            return CrmRateLimited(NAME, message, status=status, code=code, retry_after=_rate_wait(response))
        if status >= 500:
            wait = parse_retry_after(response.headers.get("retry-after"))
            return CrmTransientError(NAME, message, status=status, code=code, retry_after=wait)
        if status in (401, 403):
            return CrmAuthError(NAME, message, status=status, code=code)
        return CrmError(NAME, message, status=status, code=code)

    # -- the interface -------------------------------------------------------------------------------------------

    def check(self) -> str:
        data = self._call("GET", "/account-info/v3/details")
        portal = data.get("portalId")
        return f"HubSpot account {portal}" + (f" ({data['uiDomain']})" if data.get("uiDomain") else "")

    def push(self, item: ContactPush) -> PushResult:
        company_id = self._company_upsert(item) if item.company_domain else ""
        answer = self._call(
            "POST",
            "/crm/v3/objects/contacts/batch/upsert",
            {"inputs": [{"idProperty": "email", "id": item.email, "properties": item.contact}]},
        )
        results = answer.get("results") or []
        if not results or not results[0].get("id"):
            raise CrmTransientError(NAME, "the upsert answered without a contact id")
        contact_id = str(results[0]["id"])
        if company_id:
            self._call(
                "PUT", f"/crm/v4/objects/contact/{contact_id}/associations/default/company/{company_id}"
            )
        return PushResult(contact_id=contact_id, company_id=company_id, created=bool(results[0].get("new")))

    def _company_upsert(self, item: ContactPush) -> str:
        properties = {"domain": item.company_domain, **item.company}
        if item.company_id:
            found = self._call(
                "PATCH",
                f"/crm/v3/objects/companies/{item.company_id}",
                {"properties": properties},
                allow_404=True,
            )
            if found.get("id"):
                return str(found["id"])
        search = self._call(
            "POST",
            "/crm/v3/objects/companies/search",
            {
                "filterGroups": [
                    {"filters": [{"propertyName": "domain", "operator": "EQ", "value": item.company_domain}]}
                ],
                "properties": ["domain", "name"],
                "limit": 1,
            },
        )
        existing = search.get("results") or []
        if existing:
            company_id = str(existing[0]["id"])
            self._call("PATCH", f"/crm/v3/objects/companies/{company_id}", {"properties": properties})
            return company_id
        created = self._call("POST", "/crm/v3/objects/companies", {"properties": properties})
        return str(created["id"])

    def changes_since(self, since: datetime) -> Changes:
        deals = self._search(
            "deals",
            [
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": _ms(since)},
                {"propertyName": "hs_is_closed", "operator": "EQ", "value": "true"},
            ],
            DEAL_PROPERTIES,
            sort="hs_lastmodifieddate",
        )
        changes = self.deal_changes(deals)
        contacts = self._search(
            "contacts",
            [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": _ms(since)},
                {"propertyName": "hs_lead_status", "operator": "EQ", "value": "UNQUALIFIED"},
            ],
            ["email", "hs_lead_status", "lastmodifieddate"],
            sort="lastmodifieddate",
        )
        changes.extend(self.contact_changes(contacts))
        times = [change.changed_at for change in changes]
        return Changes(items=changes, until=max(times) if times else None)

    def _search(
        self, object_type: str, filters: list[dict[str, str]], properties: list[str], *, sort: str
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            body: dict[str, Any] = {
                "filterGroups": [{"filters": filters}],
                "properties": properties,
                "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "limit": SEARCH_PAGE,
            }
            if after:
                body["after"] = after
            page = self._call("POST", f"/crm/v3/objects/{object_type}/search", body)
            out.extend(page.get("results") or [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def deals_read(self, deal_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Deals named by a webhook, with the properties a poll reads."""
        inputs = [{"id": str(deal_id)} for deal_id in deal_ids]
        if not inputs:
            return []
        answer = self._call(
            "POST", "/crm/v3/objects/deals/batch/read", {"properties": DEAL_PROPERTIES, "inputs": inputs}
        )
        return list(answer.get("results") or [])

    def _deal_contacts(self, deal_ids: list[str]) -> dict[str, list[str]]:
        if not deal_ids:
            return {}
        answer = self._call(
            "POST",
            "/crm/v4/associations/deal/contact/batch/read",
            {"inputs": [{"id": deal_id} for deal_id in deal_ids]},
        )
        contacts: dict[str, list[str]] = {}
        for row in answer.get("results") or []:
            deal_id = str((row.get("from") or {}).get("id", ""))
            contacts[deal_id] = [str(to["toObjectId"]) for to in row.get("to") or [] if to.get("toObjectId")]
        return contacts

    def deal_changes(self, deals: list[dict[str, Any]]) -> list[Change]:
        """Closed deals as changes (won or lost, with the reason the rep gave), each with its contacts."""
        closed = [d for d in deals if (d.get("properties") or {}).get("hs_is_closed") == "true"]
        contacts = self._deal_contacts([str(d["id"]) for d in closed])
        changes = []
        for deal in closed:
            props = deal.get("properties") or {}
            won = props.get("hs_is_closed_won") == "true"
            result = "won" if won else "lost"
            reason = props.get("closed_won_reason" if won else "closed_lost_reason") or ""
            changed = _parse_time(props.get("hs_lastmodifieddate")) or _parse_time(deal.get("updatedAt"))
            changes.append(
                Change(
                    key=f"deal:{deal['id']}:{result}",
                    result=result,
                    reason=str(reason) or f"Deal {props.get('dealname') or deal['id']} closed {result}",
                    contact_ids=contacts.get(str(deal["id"]), []),
                    emails=[],
                    changed_at=changed or datetime.now(tz=UTC),
                    crm_id=str(deal["id"]),
                )
            )
        return changes

    @staticmethod
    def contact_changes(contacts: list[dict[str, Any]]) -> list[Change]:
        changes = []
        for contact in contacts:
            props = contact.get("properties") or {}
            if props.get("hs_lead_status") != "UNQUALIFIED":
                continue
            changed = _parse_time(props.get("lastmodifieddate")) or _parse_time(contact.get("updatedAt"))
            changes.append(
                Change(
                    key=f"contact:{contact['id']}:disqualified",
                    result="disqualified",
                    reason="Lead status set to Unqualified in HubSpot",
                    contact_ids=[str(contact["id"])],
                    emails=[str(props["email"])] if props.get("email") else [],
                    changed_at=changed or datetime.now(tz=UTC),
                    crm_id=str(contact["id"]),
                )
            )
        return changes
