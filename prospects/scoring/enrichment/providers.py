"""Paid enrichment providers: Hunter, Apollo and People Data Labs, each speaking its documented JSON API.

An adapter turns one API call into a `ProviderResult`: the fields it found, in our names ("company.industry",
"prospect.title"), each with the piece of the provider's answer it came from, so enrichment can store the fact with
its evidence. Provider failures become typed errors: `ProviderTransientError` (429, 5xx, timeouts: retry later,
honouring `retry_after`) or a permanent `ProviderError` (bad key, bad request, quota spent: retrying cannot help).
A call is counted against a per-provider-key rate limit in Redis before it leaves, so a burst of tasks queues up
here instead of earning 429s.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings

from leadgen import ratelimit
from leadgen.http import provider_client
from leadgen.netguard import default_ssl_context

HUNTER = "hunter"
APOLLO = "apollo"
PDL = "pdl"
PAID_PROVIDERS = (HUNTER, APOLLO, PDL)
PROVIDER_LABELS = {HUNTER: "Hunter", APOLLO: "Apollo", PDL: "People Data Labs", "website": "Company website"}

# USD per call that returned data, from each provider's public self-serve plans (a credit's price at the entry paid
# tier). Providers do not bill errors or misses (Hunter counts a domain search only when it returns addresses, PDL
# bills matches only), so neither do we. Override with settings.ENRICHMENT_PRICES_USD.
DEFAULT_PRICES_USD: dict[str, Decimal] = {
    "hunter.domain_search": Decimal("0.049"),
    "hunter.email_verifier": Decimal("0.0245"),
    "apollo.people_match": Decimal("0.05"),
    "apollo.organization_enrich": Decimal("0.05"),
    "apollo.people_search": Decimal("0"),  # the People API Search spends no credits
    "pdl.company_enrich": Decimal("0.10"),
}

QUOTE_CHARS = 300


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def price_usd(provider: str, operation: str) -> Decimal:
    prices = {**DEFAULT_PRICES_USD, **getattr(settings, "ENRICHMENT_PRICES_USD", {})}
    return Decimal(str(prices.get(f"{provider}.{operation}", 0)))


# -- errors ------------------------------------------------------------------------------------------------------


class ProviderError(Exception):
    """A call that cannot succeed as made: invalid key, bad request, quota spent. Retrying will not help."""

    retryable = False

    def __init__(self, provider: str, operation: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{PROVIDER_LABELS.get(provider, provider)} {operation}: {message}")
        self.provider = provider
        self.operation = operation
        self.status = status
        self.message = message


class ProviderAuthError(ProviderError):
    pass


class ProviderQuotaError(ProviderError):
    pass


class ProviderTransientError(ProviderError):
    """Rate limited, server error or network trouble: try again later (after `retry_after` seconds if known)."""

    retryable = True

    def __init__(
        self,
        provider: str,
        operation: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, operation, message, status=status)
        self.retry_after = retry_after


class ProviderRateLimited(ProviderTransientError):
    pass


# -- results -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    field: str  # "company.industry", "prospect.title", ...
    value: Any
    quote: str  # the part of the provider's answer the value was read from


@dataclass
class ProviderResult:
    provider: str
    operation: str
    url: str  # the endpoint called, without credentials: the evidence's source
    found: list[Found] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    latency_ms: int = 0

    @property
    def billable(self) -> bool:
        return bool(self.found)

    def add(self, field_name: str, value: Any, quote_key: str, quote_value: Any = None) -> None:
        if value in (None, "", [], {}):
            return
        shown = value if quote_value is None else quote_value
        quote = f'"{quote_key}": {json.dumps(shown, ensure_ascii=False, default=str)}'
        self.found.append(Found(field=field_name, value=value, quote=quote[:QUOTE_CHARS]))

    def fields(self) -> dict[str, Any]:
        return {item.field: item.value for item in self.found}


@dataclass
class _Response:
    status: int
    body: Any
    headers: httpx.Headers
    latency_ms: int
    url: str

    def json_dict(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


# -- shared plumbing ---------------------------------------------------------------------------------------------


def _key_fingerprint(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _reset_to_seconds(value: str | None) -> float | None:
    """A reset header as epoch seconds, an HTTP/ISO date, or a delta; None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return parse_retry_after(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, moment.timestamp() - time.time())
    # Epoch seconds are large; small numbers are already a delta.
    return max(0.0, number - time.time()) if number > 1_000_000_000 else max(0.0, number)


class _Adapter:
    name = ""
    base_setting = ""

    def __init__(self, *, api_key: str, base_url: str | None = None) -> None:
        if not api_key:
            raise ValueError(f"{self.name} needs an API key")
        self.api_key = api_key
        self.base_url = (base_url or getattr(settings, self.base_setting)).rstrip("/")

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> _Response:
        limit = int(getattr(settings, "ENRICHMENT_RATE_LIMITS", {}).get(self.name, 60))
        wait = ratelimit.hit(f"enrich:{self.name}:{_key_fingerprint(self.api_key)}", limit=limit, window=60)
        if wait:
            raise ProviderRateLimited(
                self.name, operation, f"over our limit of {limit} calls/minute", retry_after=float(wait)
            )
        url = self.base_url + path
        started = time.monotonic()
        try:
            response = _client(self.base_url).request(
                method, path, params=params, json=body, headers=self._headers()
            )
        except httpx.TimeoutException as exc:
            raise ProviderTransientError(self.name, operation, f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ProviderTransientError(self.name, operation, f"network error: {exc}") from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        try:
            parsed: Any = response.json() if response.content else {}
        except ValueError:
            parsed = {}
        return _Response(response.status_code, parsed, response.headers, latency_ms, url)

    def _server_trouble(self, response: _Response, operation: str, message: str) -> ProviderTransientError:
        return ProviderTransientError(
            self.name,
            operation,
            f"{message} (HTTP {response.status})",
            status=response.status,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )


_CLIENTS: dict[tuple[int, str], httpx.Client] = {}
_CLIENTS_LOCK = threading.Lock()


# Without TCP_NODELAY a request written in two pieces (headers, then a JSON body) on a kept-alive connection waits
# for the server's delayed ACK, ~40 ms a call; a fresh connection hid it (Linux acks at once at a connection's start).
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


def _client(base_url: str) -> httpx.Client:
    """One client per provider URL and process, so calls to a provider reuse keep-alive connections: a new client
    per call opened a TCP (and in production a TLS) connection every time, ~2.4 per enriched prospect. Keyed by the
    process id too, so a forked worker never shares its parent's sockets; httpx clients are thread-safe. The shape
    is `leadgen.http.provider_client`'s (timeouts, no redirects, our user agent) with a NODELAY transport."""
    key = (os.getpid(), base_url)
    client = _CLIENTS.get(key)
    if client is None or client.is_closed:
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None or client.is_closed:
                template = provider_client(base_url=base_url)
                client = _CLIENTS[key] = httpx.Client(
                    base_url=base_url,
                    timeout=template.timeout,
                    follow_redirects=template.follow_redirects,
                    headers=template.headers,
                    transport=httpx.HTTPTransport(verify=default_ssl_context(), socket_options=NODELAY),
                )
                template.close()
    return client


# -- Hunter (https://hunter.io/api-documentation/v2) -----------------------------------------------------------------


def _hunter_error(body: dict[str, Any]) -> tuple[str, str]:
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("id", "")), str(errors[0].get("details", ""))
    return "", ""


def _headcount_floor(value: Any) -> int | None:
    """Hunter and PDL give size bands ("51-200", "10001+"); keep the lower bound as the employee count."""
    if isinstance(value, int):
        return value
    text = str(value or "").replace(",", "").strip()
    digits = text.split("-", 1)[0].rstrip("+").strip()
    return int(digits) if digits.isdigit() else None


class Hunter(_Adapter):
    name = HUNTER
    base_setting = "HUNTER_API_URL"

    def _headers(self) -> dict[str, str]:
        # Hunter accepts the key as a header, which keeps it out of URLs and access logs.
        return {"X-API-KEY": self.api_key}

    def _check(self, response: _Response, operation: str) -> dict[str, Any]:
        body = response.json_dict()
        error_id, details = _hunter_error(body)
        status = response.status
        if status == 200:
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        if status in (202, 222):
            # 202: the verification is still running; 222: the remote SMTP server answered oddly. Both: ask later.
            raise ProviderTransientError(
                self.name, operation, details or "verification not finished, retry later", status=status
            )
        if status == 401:
            raise ProviderAuthError(self.name, operation, details or "invalid API key", status=status)
        if status == 403:
            # Hunter's documented meaning of 403 is "you have reached the rate limit".
            raise ProviderRateLimited(
                self.name,
                operation,
                details or "rate limit reached",
                status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status == 429:
            # Hunter's 429 is the plan's monthly usage limit, not a per-second limit: no retry will help.
            raise ProviderQuotaError(self.name, operation, details or "usage limit reached", status=status)
        if status == 404:
            return {}
        if status >= 500:
            raise self._server_trouble(response, operation, details or "server error")
        raise ProviderError(self.name, operation, f"{error_id}: {details}".strip(": "), status=status)

    def domain_search(self, *, domain: str, limit: int = 10) -> ProviderResult:
        operation = "domain_search"
        response = self._request(
            "GET", "/v2/domain-search", operation=operation, params={"domain": domain, "limit": limit}
        )
        data = self._check(response, operation)
        result = ProviderResult(self.name, operation, response.url, raw=data, latency_ms=response.latency_ms)
        if not data:
            return result
        result.add("company.name", data.get("organization"), "organization")
        result.add("company.description", data.get("description"), "description")
        result.add("company.industry", data.get("industry"), "industry")
        result.add(
            "company.employee_count",
            _headcount_floor(data.get("headcount")),
            "headcount",
            data.get("headcount"),
        )
        location = ", ".join(str(data[k]) for k in ("city", "state", "country") if data.get(k))
        result.add("company.location", location, "city/state/country", location)
        technologies = data.get("technologies")
        if isinstance(technologies, list):
            result.add("company.technologies", [str(t) for t in technologies if t], "technologies")
        socials = {
            network: str(data[network])
            for network in ("linkedin", "twitter", "facebook")
            if data.get(network)
        }
        result.add("company.social_links", socials, "linkedin/twitter/facebook", socials)
        emails = data.get("emails")
        if isinstance(emails, list):
            result.raw = {**data, "emails": emails[:limit]}
        return result

    def person_from_domain_search(self, result: ProviderResult, *, email: str) -> None:
        """Add the prospect's own row of a domain search (position, seniority, ...) when Hunter listed them."""
        wanted = email.strip().lower()
        for row in result.raw.get("emails") or []:
            if not isinstance(row, dict) or str(row.get("value", "")).lower() != wanted:
                continue
            result.add("prospect.title", row.get("position"), "position")
            result.add("prospect.seniority", row.get("seniority"), "seniority")
            result.add("prospect.department", row.get("department"), "department")
            result.add("prospect.linkedin_url", row.get("linkedin"), "linkedin")
            result.add("prospect.phone", row.get("phone_number"), "phone_number")
            return

    def email_verifier(self, *, email: str) -> ProviderResult:
        operation = "email_verifier"
        response = self._request("GET", "/v2/email-verifier", operation=operation, params={"email": email})
        data = self._check(response, operation)
        result = ProviderResult(self.name, operation, response.url, raw=data, latency_ms=response.latency_ms)
        status = data.get("status")
        if status:
            result.add("prospect.email_verification", str(status), "status")
        return result


HUNTER_EMAIL_STATUS = {
    "valid": "valid",
    "invalid": "invalid",
    "disposable": "invalid",
    "accept_all": "risky",
    "webmail": "valid",
    "unknown": "risky",
}


# -- Apollo (https://docs.apollo.io/reference) -------------------------------------------------------------------


class Apollo(_Adapter):
    name = APOLLO
    base_setting = "APOLLO_API_URL"

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key, "Cache-Control": "no-cache", "Content-Type": "application/json"}

    def _check(self, response: _Response, operation: str) -> dict[str, Any]:
        body = response.json_dict()
        message = str(body.get("error") or body.get("message") or "")
        status = response.status
        if status == 200:
            return body
        if status == 401:
            raise ProviderAuthError(self.name, operation, message or "invalid API key", status=status)
        if status == 403:
            # e.g. "api/v1/... is not accessible with this api_key" (the plan does not include the endpoint).
            raise ProviderAuthError(self.name, operation, message or "endpoint not allowed", status=status)
        if status == 404:
            return {}
        if status == 429:
            raise ProviderRateLimited(
                self.name,
                operation,
                message or "rate limited",
                status=status,
                retry_after=self._retry_after(response),
            )
        if status >= 500:
            raise self._server_trouble(response, operation, message or "server error")
        if status == 422 and "credit" in message.lower():
            raise ProviderQuotaError(self.name, operation, message, status=status)
        raise ProviderError(self.name, operation, message or f"HTTP {status}", status=status)

    @staticmethod
    def _retry_after(response: _Response) -> float | None:
        """Retry-After when sent; otherwise Apollo's per-window counters tell which window is spent."""
        explicit = parse_retry_after(response.headers.get("retry-after"))
        if explicit is not None:
            return explicit
        for header, seconds in (
            ("x-minute-requests-left", 60.0),
            ("x-hourly-requests-left", 3600.0),
            ("x-24-hour-requests-left", 86400.0),
        ):
            if response.headers.get(header, "").strip() == "0":
                return seconds
        return None

    def people_match(
        self,
        *,
        email: str = "",
        first_name: str = "",
        last_name: str = "",
        domain: str = "",
        organization_name: str = "",
        linkedin_url: str = "",
    ) -> ProviderResult:
        operation = "people_match"
        params = {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "domain": domain,
            "organization_name": organization_name,
            "linkedin_url": linkedin_url,
            "reveal_personal_emails": False,
        }
        body = {key: value for key, value in params.items() if value not in ("", None)}
        response = self._request("POST", "/api/v1/people/match", operation=operation, body=body)
        data = self._check(response, operation)
        person = as_dict(data.get("person"))
        result = ProviderResult(
            self.name, operation, response.url, raw=person, latency_ms=response.latency_ms
        )
        if not person:
            return result
        result.add("prospect.title", person.get("title"), "title")
        result.add("prospect.seniority", person.get("seniority"), "seniority")
        departments = person.get("departments") or []
        if isinstance(departments, list) and departments:
            result.add("prospect.department", str(departments[0]), "departments", departments)
        result.add("prospect.linkedin_url", person.get("linkedin_url"), "linkedin_url")
        location = ", ".join(str(person[k]) for k in ("city", "state", "country") if person.get(k))
        result.add("prospect.location", location, "city/state/country", location)
        organization = person.get("organization")
        if isinstance(organization, dict):
            _apollo_organization_fields(result, organization)
        return result

    def organization_enrich(self, *, domain: str) -> ProviderResult:
        operation = "organization_enrich"
        response = self._request(
            "GET", "/api/v1/organizations/enrich", operation=operation, params={"domain": domain}
        )
        data = self._check(response, operation)
        organization = as_dict(data.get("organization"))
        result = ProviderResult(
            self.name, operation, response.url, raw=organization, latency_ms=response.latency_ms
        )
        if organization:
            _apollo_organization_fields(result, organization)
        return result

    def people_search(self, *, params: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
        """One page of the People API Search: (people, pagination, latency in ms)."""
        operation = "people_search"
        response = self._request("POST", "/api/v1/mixed_people/api_search", operation=operation, body=params)
        data = self._check(response, operation)
        people = [person for person in data.get("people") or [] if isinstance(person, dict)]
        pagination = as_dict(data.get("pagination"))
        return people, pagination, response.latency_ms


def _apollo_organization_fields(result: ProviderResult, organization: dict[str, Any]) -> None:
    result.add("company.name", organization.get("name"), "name")
    result.add("company.industry", organization.get("industry"), "industry")
    result.add(
        "company.employee_count", organization.get("estimated_num_employees"), "estimated_num_employees"
    )
    location = ", ".join(str(organization[k]) for k in ("city", "state", "country") if organization.get(k))
    result.add("company.location", location, "city/state/country", location)
    result.add("company.description", organization.get("short_description"), "short_description")
    technologies = organization.get("technology_names")
    if isinstance(technologies, list):
        result.add("company.technologies", [str(t) for t in technologies if t], "technology_names")
    result.add("company.linkedin_url", organization.get("linkedin_url"), "linkedin_url")
    result.add("company.funding_stage", organization.get("latest_funding_stage"), "latest_funding_stage")
    socials = {
        network: str(organization[f"{network}_url"])
        for network in ("linkedin", "twitter", "facebook")
        if organization.get(f"{network}_url")
    }
    result.add("company.social_links", socials, "linkedin_url/twitter_url/facebook_url", socials)


# -- People Data Labs (https://docs.peopledatalabs.com/docs/company-enrichment-api) ------------------------------


class PeopleDataLabs(_Adapter):
    name = PDL
    base_setting = "PDL_API_URL"

    def _headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}

    def _check(self, response: _Response, operation: str) -> dict[str, Any]:
        body = response.json_dict()
        error = as_dict(body.get("error"))
        message = str(error.get("message") or "")
        status = response.status
        if status == 200:
            return body
        if status == 404:
            return {}  # "No records were found matching your request": a miss, not a failure (and not billed)
        if status in (401, 403):
            raise ProviderAuthError(self.name, operation, message or "invalid API key", status=status)
        if status == 402:
            raise ProviderQuotaError(self.name, operation, message or "out of credits", status=status)
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is None:
                retry_after = _reset_to_seconds(response.headers.get("x-ratelimit-reset"))
            raise ProviderRateLimited(
                self.name, operation, message or "rate limited", status=status, retry_after=retry_after
            )
        if status >= 500:
            raise self._server_trouble(response, operation, message or "server error")
        raise ProviderError(self.name, operation, message or f"HTTP {status}", status=status)

    def company_enrich(self, *, domain: str) -> ProviderResult:
        operation = "company_enrich"
        response = self._request("GET", "/v5/company/enrich", operation=operation, params={"website": domain})
        data = self._check(response, operation)
        result = ProviderResult(self.name, operation, response.url, raw=data, latency_ms=response.latency_ms)
        if not data:
            return result
        result.add("company.name", data.get("display_name") or data.get("name"), "display_name")
        result.add("company.industry", data.get("industry"), "industry")
        count = data.get("employee_count")
        if isinstance(count, int):
            result.add("company.employee_count", count, "employee_count")
        else:
            result.add("company.employee_count", _headcount_floor(data.get("size")), "size", data.get("size"))
        location = as_dict(data.get("location"))
        result.add("company.location", location.get("name"), "location.name")
        result.add("company.description", data.get("summary"), "summary")
        result.add("company.linkedin_url", _https(data.get("linkedin_url")), "linkedin_url")
        result.add("company.funding_stage", data.get("latest_funding_stage"), "latest_funding_stage")
        socials = {
            network: _https(data[f"{network}_url"])
            for network in ("linkedin", "twitter", "facebook")
            if data.get(f"{network}_url")
        }
        result.add("company.social_links", socials, "linkedin_url/twitter_url/facebook_url", socials)
        return result


def _https(value: Any) -> str:
    """PDL writes profile URLs without a scheme ("linkedin.com/company/x")."""
    text = str(value or "").strip()
    if text and "://" not in text:
        return "https://" + text
    return text


ADAPTERS: dict[str, type[_Adapter]] = {HUNTER: Hunter, APOLLO: Apollo, PDL: PeopleDataLabs}
