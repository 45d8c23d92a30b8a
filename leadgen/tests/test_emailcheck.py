"""Email checks against a real (tiny) DNS server on 127.0.0.1: no real network in tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from leadgen.emailcheck import (
    INVALID,
    RISKY,
    VALID,
    check_email,
    disposable_domains,
    free_mail_domains,
    mail_domain_lookup,
    make_resolver,
)

ZONE: dict[tuple[str, str], list[str]] = {
    ("acme.test.", "MX"): ["20 mx2.acme.test.", "10 mx1.acme.test."],
    ("acme.test.", "A"): ["192.0.2.10"],
    ("webonly.test.", "A"): ["192.0.2.20"],
    ("v6only.test.", "AAAA"): ["2001:db8::20"],
    ("nomail.test.", "MX"): ["0 ."],
    ("nomail.test.", "A"): ["192.0.2.30"],
    ("empty.test.", "TXT"): ['"v=spf1 -all"'],
    ("gmail.com.", "MX"): ["5 gmail-smtp-in.l.google.com."],
    ("sub.mailinator.com.", "MX"): ["10 mail.mailinator.com."],
    ("xn--bcher-kva.test.", "MX"): ["10 mx.xn--bcher-kva.test."],
}
SERVFAIL = {"broken.test."}
SILENT = {"slow.test."}


class FakeDNS:
    """Answers from ZONE over UDP; NXDOMAIN for names it does not know, SERVFAIL or silence on request."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            question = query.question[0]
            name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, rdtype))
            if name in SILENT:
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            if name in SERVFAIL:
                response.set_rcode(dns.rcode.SERVFAIL)
            elif not any(zone_name == name for zone_name, _type in ZONE):
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif (name, rdtype) in ZONE:
                response.answer.append(
                    dns.rrset.from_text_list(name, 300, "IN", rdtype, ZONE[(name, rdtype)])
                )
            self.sock.sendto(response.to_wire(), peer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def fake_dns(settings) -> Iterator[FakeDNS]:
    server = FakeDNS()
    settings.EMAILCHECK_DNS_NAMESERVERS = ["127.0.0.1"]
    settings.EMAILCHECK_DNS_PORT = server.port
    settings.EMAILCHECK_DNS_TIMEOUT = 0.5
    yield server
    server.stop()


def test_address_with_mx_is_valid(fake_dns):
    check = check_email("Jane.Doe@acme.test")
    assert check.verdict == VALID
    assert check.syntax_ok and check.has_mx
    assert check.domain == "acme.test"
    assert check.mx_hosts == ["mx1.acme.test", "mx2.acme.test"]  # by preference
    assert not (check.is_role or check.is_disposable or check.is_free_mail)


def test_mx_lookup_is_cached_per_domain(fake_dns):
    check_email("jane@acme.test")
    check_email("john@acme.test")
    check_email("JOHN@ACME.TEST")
    assert fake_dns.queries.count(("acme.test.", "MX")) == 1


def test_no_mx_but_a_record_is_risky(fake_dns):
    check = check_email("jane@webonly.test")
    assert (check.verdict, check.has_mx) == (RISKY, False)
    assert "A record" in check.reason
    assert check_email("jane@v6only.test").verdict == RISKY


def test_no_mx_and_no_address_record_is_invalid(fake_dns):
    check = check_email("jane@empty.test")
    assert check.verdict == INVALID
    assert check.reason == "domain has no MX or A record"


def test_unknown_domain_is_invalid(fake_dns):
    check = check_email("jane@does-not-exist.test")
    assert check.verdict == INVALID
    assert check.reason == "domain does not exist"


def test_null_mx_is_invalid(fake_dns):
    assert check_email("jane@nomail.test").verdict == INVALID


def test_dns_failure_is_risky_and_not_cached(fake_dns):
    check = check_email("jane@broken.test")
    assert (check.verdict, check.has_mx) == (RISKY, None)
    assert "DNS lookup failed" in check.reason
    check_email("jane@broken.test")
    assert fake_dns.queries.count(("broken.test.", "MX")) >= 2


def test_silent_nameserver_times_out_quickly(fake_dns):
    started = time.monotonic()
    check = check_email("jane@slow.test")
    assert check.verdict == RISKY
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    "local", ["info", "sales", "support", "admin", "noreply", "no-reply", "Sales+eu", "HELLO"]
)
def test_role_addresses_are_risky(fake_dns, local):
    check = check_email(f"{local}@acme.test")
    assert check.is_role
    assert check.verdict == RISKY
    assert check.reason == "role address, not a person"


def test_disposable_domain_is_invalid_without_a_lookup(fake_dns):
    for address in ("temp@mailinator.com", "temp@sub.mailinator.com", "x@yopmail.com", "y@guerrillamail.com"):
        check = check_email(address)
        assert check.is_disposable and check.verdict == INVALID, address
    assert fake_dns.queries == []


def test_free_mail_is_valid_and_flagged(fake_dns):
    check = check_email("jane.doe@gmail.com")
    assert check.verdict == VALID
    assert check.is_free_mail
    assert check.mx_hosts == ["gmail-smtp-in.l.google.com"]


def test_internationalised_domain_is_looked_up_in_punycode(fake_dns):
    check = check_email("jane@bücher.test")
    assert check.domain == "xn--bcher-kva.test"
    assert check.verdict == VALID


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plainaddress",
        "@acme.test",
        "jane@",
        "jane@@acme.test",
        "jane doe@acme.test",
        "jane@acme..test",
        "jane@localhost",
        "jane@[192.0.2.1]",
        "jane@-acme.test",
        "a" * 65 + "@acme.test",
    ],
)
def test_bad_syntax_is_invalid_without_a_lookup(fake_dns, address):
    check = check_email(address)
    assert (check.syntax_ok, check.verdict) == (False, INVALID)
    assert fake_dns.queries == []


def test_resolver_can_be_passed_in(fake_dns, settings):
    settings.EMAILCHECK_DNS_NAMESERVERS = ["192.0.2.1"]  # would time out; the injected resolver wins
    resolver = make_resolver(nameservers=["127.0.0.1"], port=fake_dns.port, timeout=0.5)
    assert mail_domain_lookup("acme.test", resolver=resolver).mx_hosts == ["mx1.acme.test", "mx2.acme.test"]


def test_bundled_lists_are_loaded():
    assert len(disposable_domains()) >= 300
    assert "mailinator.com" in disposable_domains()
    assert "gmail.com" in free_mail_domains()
    assert not disposable_domains() & free_mail_domains()
