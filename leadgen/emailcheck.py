"""Email address checks without sending mail: syntax, MX/A lookup (cached a day per domain), role, disposable, free.

The DNS resolver comes from settings read at call time (`EMAILCHECK_DNS_NAMESERVERS`, `EMAILCHECK_DNS_PORT`,
`EMAILCHECK_DNS_TIMEOUT`), or is passed in; with no nameservers configured the system's resolv.conf is used.
Tests point it at a local fake DNS server.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import dns.exception
import dns.resolver
from django.conf import settings
from django.core.cache import cache as django_cache
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

VALID = "valid"
RISKY = "risky"
INVALID = "invalid"
CACHE_SECONDS = 24 * 60 * 60
DEFAULT_DNS_TIMEOUT = 3.0
DATA_DIR = Path(__file__).resolve().parent / "data"

ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse", "accounting", "accounts", "admin", "administrator", "billing", "careers", "contact", "customerservice",
        "do-not-reply", "donotreply", "enquiries", "enquiry", "feedback", "finance", "hello", "help", "helpdesk",
        "hostmaster", "hr", "info", "information", "inquiries", "inquiry", "jobs", "legal", "mail", "mailer-daemon",
        "marketing", "media", "news", "newsletter", "no-reply", "noreply", "office", "orders", "partners",
        "postmaster", "press", "privacy", "recruiting", "reservations", "root", "sales", "security", "service",
        "support", "team", "webmaster", "welcome",
    }
)  # fmt: skip

_syntax = EmailValidator(allowlist=[])  # "user@localhost" is not a prospect's address


@dataclass(frozen=True)
class MailDomain:
    """What DNS says about a domain's ability to receive mail."""

    exists: bool
    mx_hosts: list[str] = field(default_factory=list)
    has_a: bool = False
    null_mx: bool = False
    error: str | None = None  # a temporary failure (timeout, SERVFAIL): nothing can be concluded


@dataclass(frozen=True)
class EmailCheck:
    address: str
    syntax_ok: bool
    domain: str
    has_mx: bool | None  # None: not looked up (bad syntax, disposable) or DNS failed
    mx_hosts: list[str]
    is_role: bool
    is_disposable: bool
    is_free_mail: bool
    verdict: str  # valid | risky | invalid
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _domain_list(name: str) -> frozenset[str]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def disposable_domains() -> frozenset[str]:
    return _domain_list("disposable_domains.txt")


def free_mail_domains() -> frozenset[str]:
    return _domain_list("free_mail_domains.txt")


def _in_list(domain: str, listed: frozenset[str]) -> bool:
    """The domain or any parent of it is listed (x.mailinator.com counts as mailinator.com)."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in listed for i in range(len(labels) - 1))


def make_resolver(
    *, nameservers: list[str] | None = None, port: int | None = None, timeout: float | None = None
) -> dns.resolver.Resolver:
    nameservers = (
        nameservers if nameservers is not None else getattr(settings, "EMAILCHECK_DNS_NAMESERVERS", None)
    )
    port = port if port is not None else getattr(settings, "EMAILCHECK_DNS_PORT", 53)
    timeout = (
        timeout if timeout is not None else getattr(settings, "EMAILCHECK_DNS_TIMEOUT", DEFAULT_DNS_TIMEOUT)
    )
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = list(nameservers)
        resolver.port = int(port)
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = float(timeout)
    resolver.lifetime = float(timeout)
    return resolver


def _cache_key(domain: str) -> str:
    return f"emailcheck:mx:{domain}"


def mail_domain_lookup(domain: str, *, resolver: dns.resolver.Resolver | None = None) -> MailDomain:
    """MX (and, without MX, A/AAAA) records for domain; definite answers are cached for a day."""
    cached = django_cache.get(_cache_key(domain))
    if cached is not None:
        return MailDomain(**cached)
    result = _query_mail_domain(domain, resolver or make_resolver())
    if result.error is None:
        django_cache.set(_cache_key(domain), asdict(result), CACHE_SECONDS)
    return result


def _query_mail_domain(domain: str, resolver: dns.resolver.Resolver) -> MailDomain:
    try:
        answer = resolver.resolve(domain, "MX", search=False)
    except dns.resolver.NXDOMAIN:
        return MailDomain(exists=False)
    except dns.resolver.NoAnswer:
        answer = None
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.YXDOMAIN) as exc:
        return MailDomain(exists=True, error=f"MX lookup failed: {type(exc).__name__}")
    if answer is not None:
        records = sorted(answer, key=lambda record: (record.preference, str(record.exchange)))
        hosts = [record.exchange.to_text(omit_final_dot=True) for record in records]
        if [str(record.exchange) for record in records] == ["."]:
            return MailDomain(exists=True, null_mx=True)  # RFC 7505: this domain accepts no mail
        return MailDomain(exists=True, mx_hosts=[host for host in hosts if host])
    # RFC 5321 §5.1: without MX, mail goes to the domain's own address records.
    for rdtype in ("A", "AAAA"):
        try:
            resolver.resolve(domain, rdtype, search=False)
            return MailDomain(exists=True, has_a=True)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            return MailDomain(exists=True, error=f"{rdtype} lookup failed: {type(exc).__name__}")
    return MailDomain(exists=True)


def _split(address: str) -> tuple[str, str] | None:
    address = address.strip()
    try:
        _syntax(address)
    except ValidationError:
        return None
    local, _, domain = address.rpartition("@")
    # RFC 5321 §4.5.3.1 length limits, which Django's validator does not check.
    if len(local) > 64 or len(address) > 254:
        return None
    if domain.startswith("["):
        return None  # domain literals: allowed by RFC 5321, never a real prospect's address
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    if "." not in ascii_domain:
        return None
    return local, ascii_domain


def check_email(address: str, *, resolver: dns.resolver.Resolver | None = None) -> EmailCheck:
    parts = _split(address)
    if parts is None:
        domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
        return EmailCheck(
            address=address,
            syntax_ok=False,
            domain=domain,
            has_mx=None,
            mx_hosts=[],
            is_role=False,
            is_disposable=False,
            is_free_mail=False,
            verdict=INVALID,
            reason="invalid address syntax",
        )
    local, domain = parts
    is_role = local.lower().split("+", 1)[0] in ROLE_LOCAL_PARTS
    is_disposable = _in_list(domain, disposable_domains())
    is_free_mail = _in_list(domain, free_mail_domains())

    def result(verdict: str, reason: str, mail: MailDomain | None = None) -> EmailCheck:
        has_mx = None if mail is None or mail.error else bool(mail.mx_hosts)
        return EmailCheck(
            address=address.strip(),
            syntax_ok=True,
            domain=domain,
            has_mx=has_mx,
            mx_hosts=list(mail.mx_hosts) if mail else [],
            is_role=is_role,
            is_disposable=is_disposable,
            is_free_mail=is_free_mail,
            verdict=verdict,
            reason=reason,
        )

    if is_disposable:
        # Throwaway inboxes expire: such a lead cannot be reached later, whatever its DNS says today.
        return result(INVALID, "disposable email domain")
    mail = mail_domain_lookup(domain, resolver=resolver)
    if mail.error:
        return result(RISKY, f"DNS lookup failed ({mail.error}); try again later", mail)
    if not mail.exists:
        return result(INVALID, "domain does not exist", mail)
    if mail.null_mx:
        return result(INVALID, "domain publishes a null MX: it accepts no mail", mail)
    if not mail.mx_hosts and not mail.has_a:
        return result(INVALID, "domain has no MX or A record", mail)
    if not mail.mx_hosts:
        return result(RISKY, "no MX record; mail would fall back to the domain's A record", mail)
    if is_role:
        return result(RISKY, "role address, not a person", mail)
    if is_free_mail:
        return result(VALID, "free mail provider address", mail)
    return result(VALID, "domain has MX records", mail)
