"""Local fakes of Hunter, Apollo and People Data Labs on one real HTTP server (a thread on 127.0.0.1).

Each speaks its provider's documented JSON: Hunter's {"data", "meta"} / {"errors": [{"id", "code", "details"}]},
Apollo's {"person"} / {"organization"} / {"people", "pagination"} with its x-minute-requests-left counters, PDL's flat
company record with {"status", "error": {"type", "message"}} on failure and x-ratelimit-* headers. Authentication
is checked the way each provider does it (Hunter: X-API-KEY header or api_key parameter; Apollo and PDL: X-Api-Key).

Load with ``pytest_plugins = ["prospects.tests.fake_providers"]``; the ``fake_providers`` fixture starts a server
and points settings.HUNTER_API_URL / APOLLO_API_URL / PDL_API_URL at it. ``fake.queue(path, ...)`` makes the next
calls to a path answer something else first (an error, a rate limit), then normal behaviour resumes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HUNTER_KEY = "hunter-test-key"
APOLLO_KEY = "apollo-test-key"
PDL_KEY = "pdl-test-key"

HUNTER_DOMAIN_SEARCH = "/v2/domain-search"
HUNTER_EMAIL_VERIFIER = "/v2/email-verifier"
APOLLO_PEOPLE_MATCH = "/api/v1/people/match"
APOLLO_ORGANIZATION_ENRICH = "/api/v1/organizations/enrich"
APOLLO_PEOPLE_SEARCH = "/api/v1/mixed_people/api_search"
PDL_COMPANY_ENRICH = "/v5/company/enrich"


@dataclass
class Canned:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def hunter_domain(domain: str, organization: str) -> dict[str, Any]:
    return {
        "domain": domain,
        "disposable": False,
        "webmail": False,
        "accept_all": False,
        "pattern": "{first}.{last}",
        "organization": organization,
        "description": f"{organization} makes warehouse robots.",
        "industry": "Industrial Machinery",
        "twitter": f"https://twitter.com/{domain.split('.')[0]}",
        "facebook": None,
        "linkedin": f"https://www.linkedin.com/company/{domain.split('.')[0]}",
        "instagram": None,
        "youtube": None,
        "technologies": ["hubspot", "wordpress"],
        "country": "FR",
        "state": None,
        "city": "Lyon",
        "postal_code": None,
        "street": None,
        "headcount": "51-200",
        "company_type": "privately held",
        "emails": [
            {
                "value": f"jane.doe@{domain}",
                "type": "personal",
                "confidence": 94,
                "sources": [],
                "first_name": "Jane",
                "last_name": "Doe",
                "position": "Head of Operations",
                "seniority": "senior",
                "department": "operations",
                "linkedin": "https://www.linkedin.com/in/janedoe",
                "twitter": None,
                "phone_number": None,
                "verification": {"date": "2025-01-10", "status": "valid"},
            }
        ],
        "linked_domains": [],
    }


def apollo_organization(domain: str, name: str) -> dict[str, Any]:
    return {
        "id": "5e66b6381e05b4008c8331b8",
        "name": name,
        "website_url": f"http://www.{domain}",
        "linkedin_url": f"http://www.linkedin.com/company/{domain.split('.')[0]}",
        "twitter_url": f"https://twitter.com/{domain.split('.')[0]}",
        "facebook_url": None,
        "primary_domain": domain,
        "industry": "machinery",
        "keywords": ["robotics", "warehouse automation"],
        "estimated_num_employees": 120,
        "founded_year": 2015,
        "city": "Lyon",
        "state": "Auvergne-Rhone-Alpes",
        "country": "France",
        "short_description": f"{name} builds autonomous picking robots.",
        "technology_names": ["HubSpot", "WordPress.org", "Google Analytics"],
        "latest_funding_stage": "Series B",
        "total_funding": 42000000,
    }


def apollo_person(email: str, domain: str, organization_name: str) -> dict[str, Any]:
    return {
        "id": "64a7ff0cc4dfae00013df1a5",
        "first_name": "Jane",
        "last_name": "Doe",
        "name": "Jane Doe",
        "linkedin_url": "http://www.linkedin.com/in/janedoe",
        "title": "VP Operations",
        "email_status": "verified",
        "email": email,
        "seniority": "vp",
        "departments": ["master_operations"],
        "city": "Lyon",
        "state": None,
        "country": "France",
        "organization": apollo_organization(domain, organization_name),
    }


def pdl_company(domain: str, name: str) -> dict[str, Any]:
    return {
        "status": 200,
        "name": name.lower(),
        "display_name": name,
        "size": "51-200",
        "employee_count": 118,
        "id": "acme-robotics",
        "founded": 2015,
        "industry": "machinery",
        "location": {"name": "lyon, auvergne-rhone-alpes, france", "locality": "lyon", "country": "france"},
        "linkedin_url": f"linkedin.com/company/{domain.split('.')[0]}",
        "facebook_url": None,
        "twitter_url": f"twitter.com/{domain.split('.')[0]}",
        "website": domain,
        "type": "private",
        "summary": f"{name} designs picking robots for mid-size warehouses.",
        "tags": ["robotics"],
        "latest_funding_stage": "series_b",
        "likelihood": 6,
    }


class FakeProviders:
    def __init__(self) -> None:
        # domain -> company name; email -> (domain, company name)
        self.companies: dict[str, str] = {}
        self.people: dict[str, str] = {}
        self.search_people: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self._queued: dict[str, list[Canned]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add_company(self, domain: str, name: str) -> None:
        self.companies[domain] = name

    def add_person(self, email: str) -> None:
        self.people[email.lower()] = email.rsplit("@", 1)[1]

    def queue(
        self, path: str, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        with self._lock:
            self._queued.setdefault(path, []).extend(
                Canned(status, body if body is not None else {}, dict(headers or {})) for _ in range(times)
            )

    def rate_limit(self, path: str, *, retry_after: int | None = 1, times: int = 1) -> None:
        """Queue the provider's own rate-limit answer for `path`."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if path.startswith("/v2/"):
            # Hunter: 403 is "You have reached the rate limit" (429 means the monthly usage limit).
            body: Any = {
                "errors": [
                    {"id": "too_many_requests", "code": 403, "details": "You have reached the rate limit."}
                ]
            }
            self.queue(path, 403, body, headers, times)
        elif path.startswith("/api/v1/"):
            body = {
                "message": f"The maximum number of api calls allowed for {path.lstrip('/')} is 200 times per minute. "
                "Please upgrade your plan from https://app.apollo.io/#/settings/plans/upgrade."
            }
            headers.update(
                {"x-rate-limit-minute": "200", "x-minute-usage": "200", "x-minute-requests-left": "0"}
            )
            self.queue(path, 429, body, headers, times)
        else:
            body = {
                "status": 429,
                "error": {
                    "type": "rate_limit_error",
                    "message": "An error occurred due to requests hitting the API too quick",
                },
            }
            headers.update(
                {
                    "x-ratelimit-limit": "{'minute': 100}",
                    "x-ratelimit-remaining": "{'minute': 0}",
                    "x-ratelimit-reset": str(int(time.time()) + (retry_after or 1)),
                }
            )
            self.queue(path, 429, body, headers, times)

    def calls(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def start(self) -> FakeProviders:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- behaviour -------------------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Canned:
        with self._lock:
            queued = self._queued.get(request.path)
            if queued:
                return queued.pop(0)
        if request.path.startswith("/v2/"):
            return self._hunter(request)
        if request.path.startswith("/api/v1/"):
            return self._apollo(request)
        if request.path.startswith("/v5/"):
            return self._pdl(request)
        return Canned(404, {"error": "not found"})

    def _hunter(self, request: Request) -> Canned:
        key = request.headers.get("x-api-key") or (request.query.get("api_key") or [""])[0]
        if key != HUNTER_KEY:
            return Canned(
                401,
                {
                    "errors": [
                        {
                            "id": "authentication_failed",
                            "code": 401,
                            "details": "No user found for the API key supplied",
                        }
                    ]
                },
            )
        if request.path == HUNTER_DOMAIN_SEARCH:
            domain = (request.query.get("domain") or [""])[0]
            if not domain:
                return Canned(
                    400,
                    {
                        "errors": [
                            {
                                "id": "wrong_params",
                                "code": 400,
                                "details": "You are missing the domain parameter",
                            }
                        ]
                    },
                )
            name = self.companies.get(domain)
            data = (
                hunter_domain(domain, name)
                if name
                else {"domain": domain, "organization": None, "emails": []}
            )
            meta = {"results": len(data["emails"]), "limit": 10, "offset": 0, "params": {"domain": domain}}
            return Canned(200, {"data": data, "meta": meta})
        if request.path == HUNTER_EMAIL_VERIFIER:
            email = (request.query.get("email") or [""])[0]
            if "@" not in email:
                return Canned(
                    400, {"errors": [{"id": "invalid_email", "code": 400, "details": "The email is invalid"}]}
                )
            known = email.lower() in self.people
            data = {
                "status": "valid" if known else "accept_all",
                "result": "deliverable" if known else "risky",
                "score": 96 if known else 60,
                "email": email,
                "regexp": True,
                "gibberish": False,
                "disposable": False,
                "webmail": False,
                "mx_records": True,
                "smtp_server": True,
                "smtp_check": known,
                "accept_all": not known,
                "block": False,
                "sources": [],
            }
            return Canned(200, {"data": data, "meta": {"params": {"email": email}}})
        return Canned(404, {"errors": [{"id": "not_found", "code": 404, "details": "Not found"}]})

    def _apollo(self, request: Request) -> Canned:
        headers = {"x-rate-limit-minute": "200", "x-minute-usage": "1", "x-minute-requests-left": "199"}
        if request.headers.get("x-api-key") != APOLLO_KEY:
            return Canned(
                401, {"error": "Invalid access credentials.", "error_code": "INVALID_API_KEY"}, headers
            )
        body = request.body if isinstance(request.body, dict) else {}
        if request.path == APOLLO_PEOPLE_MATCH and request.method == "POST":
            email = str(body.get("email") or "").lower()
            if not (email or body.get("linkedin_url") or (body.get("last_name") and body.get("domain"))):
                return Canned(
                    422, {"error": "Please provide an email, a LinkedIn URL, or a name and a domain"}, headers
                )
            domain = self.people.get(email)
            if domain is None:
                return Canned(200, {"person": None}, headers)
            return Canned(
                200, {"person": apollo_person(email, domain, self.companies.get(domain, domain))}, headers
            )
        if request.path == APOLLO_ORGANIZATION_ENRICH and request.method == "GET":
            domain = (request.query.get("domain") or [""])[0]
            if not domain:
                return Canned(422, {"error": "domain is required"}, headers)
            name = self.companies.get(domain)
            if name is None:
                return Canned(404, {"error": "Organization not found"}, headers)
            return Canned(200, {"organization": apollo_organization(domain, name)}, headers)
        if request.path == APOLLO_PEOPLE_SEARCH and request.method == "POST":
            page = int(body.get("page") or 1)
            per_page = min(int(body.get("per_page") or 10), 100)
            titles = [t.lower() for t in body.get("person_titles") or []]
            matches = [
                person
                for person in self.search_people
                if not titles or any(t in str(person.get("title", "")).lower() for t in titles)
            ]
            start = (page - 1) * per_page
            pages = (len(matches) + per_page - 1) // per_page
            pagination = {
                "page": page,
                "per_page": per_page,
                "total_entries": len(matches),
                "total_pages": pages,
            }
            return Canned(
                200,
                {"breadcrumbs": [], "people": matches[start : start + per_page], "pagination": pagination},
                headers,
            )
        return Canned(404, {"error": "Not found"}, headers)

    def _pdl(self, request: Request) -> Canned:
        headers = {"x-ratelimit-limit": "{'minute': 100}", "x-ratelimit-remaining": "{'minute': 99}"}
        if request.headers.get("x-api-key") != PDL_KEY:
            return Canned(
                401,
                {"status": 401, "error": {"type": "authentication_error", "message": "Invalid API key"}},
                headers,
            )
        if request.path == PDL_COMPANY_ENRICH:
            website = (request.query.get("website") or [""])[0]
            name_param = (request.query.get("name") or [""])[0]
            if not (website or name_param):
                return Canned(
                    400,
                    {
                        "status": 400,
                        "error": {
                            "type": "invalid_request_error",
                            "message": "Request object must contain at least one of name, profile, ticker, website",
                        },
                    },
                    headers,
                )
            name = self.companies.get(website)
            if name is None:
                return Canned(
                    404,
                    {
                        "status": 404,
                        "error": {
                            "type": "not_found",
                            "message": "No records were found matching your request",
                        },
                    },
                    headers,
                )
            return Canned(200, pdl_company(website, name), headers)
        return Canned(404, {"status": 404, "error": {"type": "not_found", "message": "Not found"}}, headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As the providers' servers (nginx' tcp_nodelay): a kept-alive answer is not held ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        fake: FakeProviders = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        fake.requests.append(request)
        canned = fake.answer(request)
        payload = json.dumps(canned.body).encode()
        self.send_response(canned.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in canned.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle


@pytest.fixture
def fake_providers(settings: Any) -> Iterator[FakeProviders]:
    server = FakeProviders().start()
    settings.HUNTER_API_URL = server.url
    settings.APOLLO_API_URL = server.url
    settings.PDL_API_URL = server.url
    yield server
    server.stop()
