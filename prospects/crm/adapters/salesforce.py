"""Salesforce through OAuth 2.0 (username-password or JWT bearer flow) and the REST API.

The token endpoint (`/services/oauth2/token` on the login host: login.salesforce.com, test.salesforce.com or the
org's My Domain) answers `{"access_token", "instance_url", ...}` or `{"error", "error_description"}`. The instance
URL comes from that answer, so every call goes through the SSRF guard's transport (no private addresses, no
redirects, no proxies). Accounts are upserted by an external id field holding the domain and contacts by one holding
the email (`PATCH /services/data/vXX.X/sobjects/Contact/<field>/<email>`: 201 created, 200 or 204 updated). Changes
are read with SOQL: closed opportunities (`IsWon` tells won from lost, their contact through `ContactId`) and leads
in the disqualified status, modified since a time, following `nextRecordsUrl`.

Errors arrive as an array `[{"message", "errorCode", "fields"}]`: `REQUEST_LIMIT_EXCEEDED` (HTTP 403) is the API
limit and is retried later; `INVALID_SESSION_ID` (401) gets a fresh token once.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.cache import cache

from leadgen import crypto, netguard
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

NAME = "Salesforce"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
TOKEN_TTL = 30 * 60
# REQUEST_LIMIT_EXCEEDED has no Retry-After; the daily limit is a rolling 24 hours, so look again in 15 minutes.
LIMIT_WAIT = 900.0
JWT_LIFETIME = 180
OPPORTUNITY_SOQL = (
    "SELECT Id, Name, StageName, IsWon, IsClosed, ContactId, Contact.Email, LastModifiedDate FROM Opportunity "
    "WHERE IsClosed = true AND LastModifiedDate >= {stamp} ORDER BY LastModifiedDate"
)
LEAD_SOQL = (
    "SELECT Id, Email, Status, LastModifiedDate FROM Lead "
    "WHERE Status = {status} AND LastModifiedDate >= {stamp} ORDER BY LastModifiedDate"
)


def token_cache_key(connection_key: str) -> str:
    """Where one connection's session (encrypted) is kept between tasks: one login per half hour, not per push."""
    return f"crm:salesforce-token:{connection_key}"


def soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_assertion(*, client_id: str, username: str, audience: str, private_key_pem: str) -> str:
    """The RS256-signed JWT of Salesforce's JWT bearer flow (iss = connected app, sub = user, aud = login host)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise CrmAuthError(NAME, "the private key is not a PEM RSA key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CrmAuthError(NAME, "the private key is not an RSA key")
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {"iss": client_id, "sub": username, "aud": audience, "exp": int(time.time()) + JWT_LIFETIME}
    signing_input = f"{header}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _guarded_client(base_url: str) -> httpx.Client:
    allow_loopback = bool(getattr(settings, "NETGUARD_ALLOW_LOOPBACK", False))
    ports = frozenset(getattr(settings, "NETGUARD_ALLOWED_PORTS", netguard.DEFAULT_PORTS))
    if urlsplit(base_url).scheme != "https" and not allow_loopback:
        raise CrmAuthError(NAME, f"{base_url} is not an https address")
    try:
        netguard.check_url(base_url, allow_loopback=allow_loopback, allowed_ports=ports)
    except netguard.BlockedURL as exc:
        raise CrmAuthError(NAME, f"{base_url} cannot be used: {exc.reason}") from exc
    return httpx.Client(
        base_url=base_url,
        transport=netguard.GuardedTransport(allow_loopback=allow_loopback, allowed_ports=ports),
        timeout=TIMEOUT,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": netguard.USER_AGENT, "Accept": "application/json"},
    )


def _error(response: httpx.Response) -> CrmError:
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    if isinstance(data, dict):  # the OAuth endpoint's shape
        first = {"message": data.get("error_description"), "errorCode": data.get("error")}
    message = str(first.get("message") or response.reason_phrase or f"HTTP {status}")[:300]
    code = str(first.get("errorCode") or "")
    if code == "REQUEST_LIMIT_EXCEEDED" or status == 429:
        wait = parse_retry_after(response.headers.get("retry-after"))
        return CrmRateLimited(NAME, message, status=status, code=code, retry_after=wait or LIMIT_WAIT)
    if status >= 500:
        return CrmTransientError(NAME, message, status=status, code=code)
    if status == 401 or code in (
        "INVALID_SESSION_ID",
        "invalid_grant",
        "invalid_client_id",
        "invalid_client",
    ):
        return CrmAuthError(NAME, message, status=status, code=code)
    return CrmError(NAME, message, status=status, code=code)


class Salesforce:
    name = NAME

    def __init__(self, *, credentials: dict[str, str], options: dict[str, Any], cache_key: str = "") -> None:
        self.credentials = credentials
        self.options = options
        self.login_url = str(options.get("login_url") or settings.SALESFORCE_LOGIN_URL).rstrip("/")
        self.version = str(options.get("api_version") or settings.SALESFORCE_API_VERSION)
        self.contact_field = str(options.get("contact_external_id") or "Email__c")
        self.account_field = str(options.get("account_external_id") or "Domain__c")
        self.disqualified_status = str(options.get("disqualified_status") or "Closed - Not Converted")
        self._cache_key = token_cache_key(cache_key) if cache_key else ""
        self._session: tuple[str, str] | None = None
        self._client: httpx.Client | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- authentication ----------------------------------------------------------------------------------------

    def _token_form(self) -> dict[str, str]:
        creds = self.credentials
        username = str(self.options.get("username") or "")
        if not creds.get("client_id") or not username:
            raise CrmAuthError(NAME, "the connected app's consumer key and the username are needed")
        if self.options.get("auth_flow") == "jwt":
            assertion = jwt_assertion(
                client_id=creds["client_id"],
                username=username,
                audience=self._jwt_audience(),
                private_key_pem=creds.get("private_key", ""),
            )
            return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        return {
            "grant_type": "password",
            "client_id": creds["client_id"],
            "client_secret": creds.get("client_secret", ""),
            "username": username,
            "password": creds.get("password", "") + creds.get("security_token", ""),
        }

    def _jwt_audience(self) -> str:
        """Salesforce wants the authorization server as `aud`: test.salesforce.com for sandboxes, otherwise
        login.salesforce.com, also when the token is asked of a My Domain host."""
        host = urlsplit(self.login_url).hostname or ""
        if host == "test.salesforce.com" or ".sandbox." in host:
            return "https://test.salesforce.com"
        return "https://login.salesforce.com"

    def _login(self) -> tuple[str, str]:
        with _guarded_client(self.login_url) as client:
            try:
                response = client.post("/services/oauth2/token", data=self._token_form())
            except netguard.BlockedURL as exc:
                raise CrmAuthError(NAME, f"{self.login_url} cannot be used: {exc.reason}") from exc
            except (httpx.HTTPError, netguard.FetchError) as exc:
                raise CrmTransientError(NAME, f"could not reach {self.login_url}: {exc}") from exc
        if response.status_code != 200:
            raise _error(response)
        data = response.json()
        if not data.get("access_token") or not data.get("instance_url"):
            raise CrmAuthError(NAME, "the token answer has no access_token or instance_url")
        session = (str(data["access_token"]), str(data["instance_url"]).rstrip("/"))
        if self._cache_key:
            cache.set(self._cache_key, crypto.encrypt(json.dumps(session)), timeout=TOKEN_TTL)
        return session

    def _ensure_session(self, *, fresh: bool = False) -> httpx.Client:
        if fresh or self._session is None:
            cached = None if fresh or not self._cache_key else cache.get(self._cache_key)
            self._session = tuple(json.loads(crypto.decrypt(cached))) if cached else self._login()  # type: ignore[assignment]
            if self._client is not None:
                self._client.close()
            token, instance_url = self._session  # type: ignore[misc]
            self._client = _guarded_client(instance_url)
            self._client.headers["Authorization"] = f"Bearer {token}"
        assert self._client is not None
        return self._client

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        for attempt in (0, 1):
            client = self._ensure_session(fresh=attempt == 1)
            try:
                response = client.request(method, path, json=body)
            except netguard.BlockedURL as exc:
                # The instance address resolved somewhere we never connect to (checked at connect time).
                raise CrmAuthError(NAME, f"the instance address cannot be used: {exc.reason}") from exc
            except (httpx.HTTPError, netguard.FetchError) as exc:
                raise CrmTransientError(
                    NAME, f"could not reach Salesforce: {exc or type(exc).__name__}"
                ) from exc
            if response.status_code == 401 and attempt == 0:
                continue  # an expired session: one fresh token, then the error stands
            if response.status_code >= 300:
                raise _error(response)
            return response.status_code, (response.json() if response.content else {})
        raise CrmAuthError(NAME, "the session was refused twice")

    # -- the interface -------------------------------------------------------------------------------------------

    def check(self) -> str:
        _, data = self._call("GET", f"/services/data/v{self.version}/limits")
        daily = (data or {}).get("DailyApiRequests") or {}
        left = (
            f"{daily.get('Remaining')} of {daily.get('Max')} API calls left today" if daily else "reachable"
        )
        assert self._session is not None
        return f"Salesforce at {self._session[1]}: {left}"

    def _upsert(self, sobject: str, field: str, value: str, body: dict[str, Any]) -> tuple[str, bool]:
        path = f"/services/data/v{self.version}/sobjects/{sobject}/{field}/{quote(value, safe='@')}"
        status, data = self._call("PATCH", path, body)
        record_id = str((data or {}).get("id") or "")
        if not record_id:
            # 204 from API versions before 46: read the id back by the external id.
            _, found = self._call("GET", f"{path}?fields=Id")
            record_id = str((found or {}).get("Id") or "")
        return record_id, status == 201

    def push(self, item: ContactPush) -> PushResult:
        account_id = ""
        if item.company_domain:
            account = {"Name": item.company_domain, **item.company}
            account_id, _ = self._upsert("Account", self.account_field, item.company_domain, account)
        contact = dict(item.contact)
        contact.setdefault("LastName", item.email.split("@", 1)[0])
        if not contact.get("LastName"):
            contact["LastName"] = item.email.split("@", 1)[0]
        if account_id:
            contact["AccountId"] = account_id
        contact_id, created = self._upsert("Contact", self.contact_field, item.email, contact)
        return PushResult(contact_id=contact_id, company_id=account_id, created=created)

    def query(self, soql: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        path: str | None = f"/services/data/v{self.version}/query?q={quote(soql)}"
        while path:
            _, data = self._call("GET", path)
            records.extend(data.get("records") or [])
            path = None if data.get("done", True) else data.get("nextRecordsUrl")
        return records

    def changes_since(self, since: datetime) -> Changes:
        # SOQL has no bind parameters: the time is formatted by us and the status quoted by soql_string.
        stamp = soql_datetime(since)
        status = soql_string(self.disqualified_status)
        opportunities = self.query(OPPORTUNITY_SOQL.format(stamp=stamp))
        leads = self.query(LEAD_SOQL.format(stamp=stamp, status=status))
        changes = [self._opportunity_change(row) for row in opportunities]
        changes += [self._lead_change(row) for row in leads]
        times = [change.changed_at for change in changes]
        return Changes(items=changes, until=max(times) if times else None)

    @staticmethod
    def _when(row: dict[str, Any]) -> datetime:
        text = str(row.get("LastModifiedDate") or "")
        try:
            # Salesforce writes "2024-05-01T10:00:00.000+0000".
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return datetime.now(tz=UTC)

    def _opportunity_change(self, row: dict[str, Any]) -> Change:
        result = "won" if row.get("IsWon") else "lost"
        email = ((row.get("Contact") or {}).get("Email")) or ""
        return Change(
            key=f"opportunity:{row['Id']}:{result}",
            result=result,
            reason=f"Opportunity {row.get('Name') or row['Id']}: {row.get('StageName') or result}",
            contact_ids=[str(row["ContactId"])] if row.get("ContactId") else [],
            emails=[email] if email else [],
            changed_at=self._when(row),
            crm_id=str(row["Id"]),
        )

    def _lead_change(self, row: dict[str, Any]) -> Change:
        return Change(
            key=f"lead:{row['Id']}:disqualified",
            result="disqualified",
            reason=f"Lead status: {row.get('Status') or self.disqualified_status}",
            contact_ids=[],
            emails=[str(row["Email"])] if row.get("Email") else [],
            changed_at=self._when(row),
            crm_id=str(row["Id"]),
        )
