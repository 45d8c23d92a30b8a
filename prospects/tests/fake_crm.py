"""Local fakes of HubSpot and Salesforce on one real HTTP server (a thread on 127.0.0.1).

HubSpot (private app token as `Authorization: Bearer`): `/account-info/v3/details`; contacts batch upsert by email
(`{"inputs": [{"idProperty": "email", "id", "properties"}]}` → `{"status": "COMPLETE", "results": [{"id", "new",
"properties"}]}`); company search by domain, create and PATCH; the v4 default contact→company association; deal
and contact search (`filterGroups`, `sorts`, `after` paging), deal batch read and v4 deal→contact association batch
read. Errors as HubSpot sends them: `{"status": "error", "message", "correlationId", "category"}`, 401 for a bad
token, 429 with `Retry-After` and the `X-HubSpot-RateLimit-*` headers.

Salesforce: `/services/oauth2/token` (password and JWT bearer grants, `{"access_token", "instance_url", ...}` or
`{"error", "error_description"}`), `/limits`, upsert by external id (`PATCH /sobjects/<type>/<field>/<value>`:
201 created, 200 updated, `{"id", "success", "errors", "created"}`), SOQL `/query` of Opportunity and Lead with
`LastModifiedDate >=` and `nextRecordsUrl` paging. Errors as an array `[{"message", "errorCode"}]`:
`INVALID_SESSION_ID` (401), `REQUEST_LIMIT_EXCEEDED` (403), `NOT_FOUND` (404) for an unknown external id field.

Load with ``pytest_plugins = ["prospects.tests.fake_crm"]``; the ``fake_crm`` fixture starts a server, points
settings.HUBSPOT_API_URL and SALESFORCE_LOGIN_URL at it, and lets the SSRF guard reach it (Salesforce's instance URL
comes from the token answer, so it goes through the guard). ``fake.queue(path, status, body, headers, times)``
makes the next calls to paths starting with `path` answer that first; ``hubspot_rate_limit`` /
``salesforce_limit`` / ``server_error`` queue the providers' own error bodies.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

HUBSPOT_TOKEN = "pat-na1-test-token"
HUBSPOT_CLIENT_SECRET = "hubspot-app-secret"
HUBSPOT_PORTAL = 4242
SF_CLIENT_ID = "3MVG9-test-consumer-key"
SF_CLIENT_SECRET = "sf-consumer-secret"
SF_USERNAME = "ops@acme.example"
SF_PASSWORD = "correct-horse"
SF_VERSION = "62.0"


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


def hs_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sf_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _hs_error(status: int, message: str, category: str) -> Canned:
    return Canned(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category},
    )


class FakeCrm:
    def __init__(self) -> None:
        self._ids = itertools.count(1001)
        self.requests: list[Request] = []
        self._queued: list[tuple[str, Canned]] = []
        self._lock = threading.Lock()
        # HubSpot state
        self.hs_contacts: dict[str, dict[str, Any]] = {}
        self.hs_companies: dict[str, dict[str, Any]] = {}
        self.hs_associations: set[tuple[str, str]] = set()
        self.hs_deals: dict[str, dict[str, Any]] = {}
        # Salesforce state: (sobject, external field, value) -> record
        self.sf_records: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.sf_tokens: set[str] = set()
        self.sf_opportunities: list[dict[str, Any]] = []
        self.sf_leads: list[dict[str, Any]] = []
        self.sf_page_size = 200
        self.sf_cursors: dict[str, list[dict[str, Any]]] = {}
        self.sf_external_fields = {"Contact": {"Email__c"}, "Account": {"Domain__c"}}
        self.sf_jwt_public_keys: list[Any] = []
        # Seconds each answer waits, to stand in for a real CRM's round trip (the bench sets it).
        self.latency = 0.0
        # HubSpot's search index lags behind writes: a company created less than this many seconds ago is not found.
        self.search_lag = 0.0
        self._created_at: dict[str, float] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> FakeCrm:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids)}"

    # -- scripting -------------------------------------------------------------------------------------------------

    def queue(
        self, path: str, status: int, body: Any = None, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        with self._lock:
            for _ in range(times):
                self._queued.append(
                    (path, Canned(status, body if body is not None else {}, dict(headers or {})))
                )

    def hubspot_rate_limit(self, path: str, *, retry_after: int | None = 1, times: int = 1) -> None:
        headers = {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "249000",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": "0",
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
        }
        self.queue(path, 429, body, headers, times)

    def salesforce_limit(self, path: str, *, times: int = 1) -> None:
        body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        self.queue(path, 403, body, {"Sforce-Limit-Info": "api-usage=15000/15000"}, times)

    def server_error(self, path: str, *, times: int = 1, salesforce: bool = False) -> None:
        if salesforce:
            body: Any = [{"message": "Server temporarily unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        else:
            body = {"status": "error", "message": "internal error", "correlationId": str(uuid.uuid4())}
        self.queue(path, 503 if salesforce else 502, body, {}, times)

    def calls(self, path: str, method: str | None = None) -> list[Request]:
        return [
            r for r in self.requests if r.path.startswith(path) and (method is None or r.method == method)
        ]

    def hs_deal(
        self,
        *,
        contact_id: str,
        won: bool,
        reason: str = "",
        modified: datetime | None = None,
        name: str = "Deal",
    ) -> str:
        deal_id = self.next_id()
        moment = modified or datetime.now(tz=UTC)
        self.hs_deals[deal_id] = {
            "properties": {
                "dealname": name,
                "dealstage": "closedwon" if won else "closedlost",
                "hs_is_closed": "true",
                "hs_is_closed_won": "true" if won else "false",
                "closed_lost_reason": "" if won else reason,
                "closed_won_reason": reason if won else "",
                "hs_lastmodifieddate": hs_time(moment),
            },
            "contacts": [contact_id],
        }
        return deal_id

    def sf_opportunity(
        self, *, contact_id: str = "", email: str = "", won: bool, modified: datetime | None = None
    ) -> str:
        opp_id = self.next_id("006")
        self.sf_opportunities.append(
            {
                "attributes": {
                    "type": "Opportunity",
                    "url": f"/services/data/v{SF_VERSION}/sobjects/Opportunity/{opp_id}",
                },
                "Id": opp_id,
                "Name": f"Opportunity {opp_id}",
                "StageName": "Closed Won" if won else "Closed Lost",
                "IsWon": won,
                "IsClosed": True,
                "ContactId": contact_id or None,
                "Contact": {"attributes": {"type": "Contact"}, "Email": email} if email else None,
                "LastModifiedDate": sf_time(modified or datetime.now(tz=UTC)),
            }
        )
        return opp_id

    def sf_lead(
        self, *, email: str, status: str = "Closed - Not Converted", modified: datetime | None = None
    ) -> str:
        lead_id = self.next_id("00Q")
        self.sf_leads.append(
            {
                "attributes": {"type": "Lead"},
                "Id": lead_id,
                "Email": email,
                "Status": status,
                "LastModifiedDate": sf_time(modified or datetime.now(tz=UTC)),
            }
        )
        return lead_id

    # -- dispatch --------------------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Canned:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            for index, (path, canned) in enumerate(self._queued):
                if request.path.startswith(path):
                    del self._queued[index]
                    return canned
        if request.path.startswith("/services/"):
            return _Salesforce(self).answer(request)
        return _HubSpot(self).answer(request)


class _HubSpot:
    def __init__(self, fake: FakeCrm) -> None:
        self.fake = fake

    def answer(self, r: Request) -> Canned:
        if r.headers.get("authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return _hs_error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        body = r.body if isinstance(r.body, dict) else {}
        if r.path == "/account-info/v3/details":
            return Canned(200, {"portalId": HUBSPOT_PORTAL, "uiDomain": "app.hubspot.com", "timeZone": "UTC"})
        if r.path == "/crm/v3/objects/contacts/batch/upsert" and r.method == "POST":
            return self._contacts_upsert(body)
        if r.path == "/crm/v3/objects/companies/search":
            cutoff = time.monotonic() - self.fake.search_lag
            indexed = {
                k: v for k, v in self.fake.hs_companies.items() if self.fake._created_at.get(k, 0.0) <= cutoff
            }
            return self._search(indexed, body)
        if r.path == "/crm/v3/objects/companies" and r.method == "POST":
            company_id = self.fake.next_id()
            self.fake.hs_companies[company_id] = dict(body.get("properties") or {})
            self.fake._created_at[company_id] = time.monotonic()
            return Canned(201, self._object(company_id, self.fake.hs_companies[company_id]))
        match = re.fullmatch(r"/crm/v3/objects/companies/(\d+)", r.path)
        if match and r.method == "PATCH":
            company = self.fake.hs_companies.get(match[1])
            if company is None:
                return _hs_error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
            company.update(body.get("properties") or {})
            return Canned(200, self._object(match[1], company))
        match = re.fullmatch(r"/crm/v4/objects/contact/(\d+)/associations/default/company/(\d+)", r.path)
        if match and r.method == "PUT":
            self.fake.hs_associations.add((match[1], match[2]))
            return Canned(
                200, {"status": "COMPLETE", "results": [{"from": {"id": match[1]}, "to": {"id": match[2]}}]}
            )
        if r.path == "/crm/v3/objects/deals/search":
            return self._search({k: v["properties"] for k, v in self.fake.hs_deals.items()}, body)
        if r.path == "/crm/v3/objects/contacts/search":
            return self._search(self.fake.hs_contacts, body)
        if r.path == "/crm/v3/objects/deals/batch/read":
            ids = [str(i.get("id")) for i in body.get("inputs") or []]
            found = [
                self._object(i, self.fake.hs_deals[i]["properties"]) for i in ids if i in self.fake.hs_deals
            ]
            return Canned(200, {"status": "COMPLETE", "results": found})
        if r.path == "/crm/v4/associations/deal/contact/batch/read":
            results = []
            for item in body.get("inputs") or []:
                deal = self.fake.hs_deals.get(str(item.get("id")))
                if deal:
                    to = [
                        {
                            "toObjectId": int(c),
                            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}],
                        }
                        for c in deal["contacts"]
                    ]
                    results.append({"from": {"id": str(item["id"])}, "to": to})
            return Canned(200, {"status": "COMPLETE", "results": results})
        return _hs_error(404, f"Unable to route {r.method} {r.path}", "OBJECT_NOT_FOUND")

    @staticmethod
    def _object(object_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        now = hs_time(datetime.now(tz=UTC))
        return {
            "id": object_id,
            "properties": properties,
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }

    def _contacts_upsert(self, body: dict[str, Any]) -> Canned:
        results = []
        for item in body.get("inputs") or []:
            if item.get("idProperty") != "email" or not item.get("id"):
                return _hs_error(400, "idProperty email and an id are required", "VALIDATION_ERROR")
            email = str(item["id"]).lower()
            existing = next((k for k, v in self.fake.hs_contacts.items() if v.get("email") == email), None)
            contact_id = existing or self.fake.next_id()
            record = self.fake.hs_contacts.setdefault(contact_id, {"email": email})
            record.update(item.get("properties") or {})
            record["email"] = email
            record["lastmodifieddate"] = hs_time(datetime.now(tz=UTC))
            results.append({**self._object(contact_id, record), "new": existing is None})
        return Canned(200, {"status": "COMPLETE", "results": results, "startedAt": "", "completedAt": ""})

    def _search(self, objects: dict[str, dict[str, Any]], body: dict[str, Any]) -> Canned:
        filters = ((body.get("filterGroups") or [{}])[0]).get("filters") or []
        rows = [(k, v) for k, v in objects.items() if all(self._matches(v, f) for f in filters)]
        sort = ((body.get("sorts") or [{}])[0]).get("propertyName")
        if sort:
            rows.sort(key=lambda kv: str(kv[1].get(sort) or ""))
        start = int(body.get("after") or 0)
        limit = int(body.get("limit") or 10)
        page = rows[start : start + limit]
        answer: dict[str, Any] = {"total": len(rows), "results": [self._object(k, v) for k, v in page]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return Canned(200, answer)

    @staticmethod
    def _matches(properties: dict[str, Any], flt: dict[str, Any]) -> bool:
        value = properties.get(flt["propertyName"])
        wanted = str(flt.get("value", ""))
        if flt["operator"] == "EQ":
            return str(value).lower() == wanted.lower()
        if flt["operator"] == "GTE":
            if not value:
                return False
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return moment.timestamp() * 1000 >= int(wanted)
        return False


class _Salesforce:
    def __init__(self, fake: FakeCrm) -> None:
        self.fake = fake

    def answer(self, r: Request) -> Canned:
        if r.path == "/services/oauth2/token":
            return self._token(r)
        token = (r.headers.get("authorization") or "").removeprefix("Bearer ")
        if token not in self.fake.sf_tokens:
            return Canned(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        base = f"/services/data/v{SF_VERSION}"
        if not r.path.startswith(base):
            return Canned(
                404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
            )
        rest = r.path[len(base) :]
        if rest == "/limits":
            return Canned(200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14990}})
        if rest.startswith("/query"):
            return self._query(r, rest)
        match = re.fullmatch(r"/sobjects/(\w+)/(\w+)/(.+)", rest)
        if match and r.method in ("PATCH", "GET"):
            return self._upsert(r, match[1], match[2], unquote(match[3]))
        return Canned(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])

    def _token(self, r: Request) -> Canned:
        form = r.body if isinstance(r.body, dict) else {}
        grant = form.get("grant_type")
        if grant == "password":
            ok = (
                form.get("client_id") == SF_CLIENT_ID
                and form.get("client_secret") == SF_CLIENT_SECRET
                and form.get("username") == SF_USERNAME
                and form.get("password") == SF_PASSWORD
            )
            if not ok:
                return Canned(400, {"error": "invalid_grant", "error_description": "authentication failure"})
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if not self._jwt_valid(str(form.get("assertion") or "")):
                return Canned(400, {"error": "invalid_grant", "error_description": "invalid assertion"})
        else:
            return Canned(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
        token = f"00D{uuid.uuid4().hex}"
        self.fake.sf_tokens.add(token)
        return Canned(
            200,
            {
                "access_token": token,
                "instance_url": self.fake.url,
                "id": "https://login.salesforce.com/id/00D000000000001/005000000000001",
                "token_type": "Bearer",
                "issued_at": str(int(datetime.now(tz=UTC).timestamp() * 1000)),
                "signature": base64.b64encode(b"sig").decode(),
            },
        )

    def _jwt_valid(self, assertion: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            header, claims, signature = assertion.split(".")
            data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
            raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        except ValueError:
            return False
        if data.get("iss") != SF_CLIENT_ID or data.get("sub") != SF_USERNAME:
            return False
        if data.get("aud") not in ("https://login.salesforce.com", "https://test.salesforce.com"):
            return False
        if int(data.get("exp", 0)) < datetime.now(tz=UTC).timestamp():
            return False
        for key in self.fake.sf_jwt_public_keys:
            try:
                key.verify(raw, f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
                return True
            except InvalidSignature:
                continue
        return False

    def _upsert(self, r: Request, sobject: str, field_name: str, value: str) -> Canned:
        if field_name not in self.fake.sf_external_fields.get(sobject, set()):
            return Canned(
                404,
                [
                    {
                        "errorCode": "NOT_FOUND",
                        "message": f"Provided external ID field does not exist or is not accessible: {field_name}",
                    }
                ],
            )
        key = (sobject, field_name, value.lower())
        existing = self.fake.sf_records.get(key)
        if r.method == "GET":
            return (
                Canned(200, existing)
                if existing
                else Canned(404, [{"errorCode": "NOT_FOUND", "message": "Not found"}])
            )
        body = r.body if isinstance(r.body, dict) else {}
        if sobject == "Contact" and not (existing or {}).get("LastName") and not body.get("LastName"):
            return Canned(
                400,
                [
                    {
                        "message": "Required fields are missing: [LastName]",
                        "errorCode": "REQUIRED_FIELD_MISSING",
                        "fields": ["LastName"],
                    }
                ],
            )
        if existing is None:
            existing = {"Id": self.fake.next_id("003" if sobject == "Contact" else "001"), field_name: value}
            self.fake.sf_records[key] = existing
            existing.update(body)
            return Canned(201, {"id": existing["Id"], "success": True, "errors": [], "created": True})
        existing.update(body)
        return Canned(200, {"id": existing["Id"], "success": True, "errors": [], "created": False})

    def _query(self, r: Request, rest: str) -> Canned:
        if rest.startswith("/query/"):
            cursor, start = rest.removeprefix("/query/").split("-")
            rows = self.fake.sf_cursors.get(cursor)
            if rows is None:
                return Canned(
                    400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
                )
            return self._page(rows, int(start), cursor)
        soql = (r.query.get("q") or [""])[0]
        if "FROM Opportunity" in soql:
            key = "opp"
        elif "FROM Lead" in soql:
            key = "lead"
        else:
            return Canned(400, [{"message": "sObject type is not supported", "errorCode": "INVALID_TYPE"}])
        cursor = f"01g{uuid.uuid4().hex[:12]}"
        self.fake.sf_cursors[cursor] = self._rows_for(key, soql)
        return self._page(self.fake.sf_cursors[cursor], 0, cursor)

    def _rows_for(self, key: str, soql: str) -> list[dict[str, Any]]:
        rows = self.fake.sf_opportunities if key == "opp" else self.fake.sf_leads
        match = re.search(r"LastModifiedDate >= (\S+)", soql)
        if match:
            since = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            rows = [
                row
                for row in rows
                if datetime.strptime(row["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z") >= since
            ]
        status = re.search(r"Status = '([^']*)'", soql)
        if status:
            rows = [row for row in rows if row.get("Status") == status[1]]
        return rows

    def _page(self, rows: list[dict[str, Any]], start: int, key: str) -> Canned:
        size = self.fake.sf_page_size
        page = rows[start : start + size]
        done = start + size >= len(rows)
        answer: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{SF_VERSION}/query/{key}-{start + size}"
        return Canned(200, answer)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        fake: FakeCrm = self.server.fake  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        elif raw:
            try:
                body = json.loads(raw)
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
    do_PATCH = _handle
    do_PUT = _handle


@pytest.fixture
def fake_crm(settings: Any) -> Iterator[FakeCrm]:
    server = FakeCrm().start()
    settings.HUBSPOT_API_URL = server.url
    settings.SALESFORCE_LOGIN_URL = server.url
    settings.SALESFORCE_API_VERSION = SF_VERSION
    settings.NETGUARD_ALLOW_LOOPBACK = True
    settings.NETGUARD_ALLOWED_PORTS = [80, 443, server.port]
    yield server
    server.stop()
