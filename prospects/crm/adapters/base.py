"""The interface every CRM adapter speaks, and the errors it raises.

An adapter pushes one person (contact matched by email, company by domain) and reads what changed on deals or leads
since a time. Errors say whether trying again can help: `CrmTransientError` (rate limit, 5xx, network; with
`retry_after` when the CRM said how long to wait) is retried by the push task with backoff; `CrmError` (bad
credentials, a field the CRM does not know) is not, and is shown to the admin as the CRM worded it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prospects.scoring.enrichment.providers import parse_retry_after

__all__ = [
    "Change",
    "Changes",
    "ContactPush",
    "CrmAdapter",
    "CrmAuthError",
    "CrmError",
    "CrmRateLimited",
    "CrmTransientError",
    "PushResult",
    "parse_retry_after",
]


class CrmError(Exception):
    """The CRM refused the request; retrying the same request cannot help."""

    def __init__(self, crm: str, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(f"{crm}: {message}" + (f" ({code})" if code else ""))
        self.crm = crm
        self.message = message
        self.status = status
        self.code = code


class CrmAuthError(CrmError):
    """The credentials are wrong, expired or lack a permission."""


class CrmTransientError(CrmError):
    """Rate limited, a server error or network trouble: try again later (after `retry_after` seconds if known)."""

    def __init__(
        self,
        crm: str,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(crm, message, status=status, code=code)
        self.retry_after = retry_after


class CrmRateLimited(CrmTransientError):
    """The CRM's rate limit (HubSpot 429, Salesforce REQUEST_LIMIT_EXCEEDED)."""


@dataclass
class ContactPush:
    """One person to upsert: CRM property names already mapped, ids from an earlier push when there was one."""

    email: str
    contact: dict[str, Any]
    company_domain: str = ""
    company: dict[str, Any] = field(default_factory=dict)
    contact_id: str = ""
    company_id: str = ""


@dataclass
class PushResult:
    contact_id: str
    company_id: str = ""
    created: bool = False


@dataclass
class Change:
    """A deal/opportunity closed or a lead disqualified. `key` names the change so it is recorded once."""

    key: str
    result: str  # won | lost | disqualified
    reason: str
    contact_ids: list[str]
    emails: list[str]
    changed_at: datetime
    crm_id: str


@dataclass
class Changes:
    items: list[Change]
    # The newest modification time seen; the next poll starts there.
    until: datetime | None


class CrmAdapter(Protocol):
    name: str

    def check(self) -> str:
        """Call the CRM with the stored credentials; returns what it says about the account."""
        ...

    def push(self, item: ContactPush) -> PushResult: ...

    def changes_since(self, since: datetime) -> Changes: ...

    def close(self) -> None: ...
