"""The company website fetcher against a real local site (loopback allowed only for these tests)."""

from __future__ import annotations

import time

import pytest

from leadgen.webfetch import (
    TECHNOLOGY_SIGNATURES,
    detect_technologies,
    fetch_company_site,
    normalize_domain,
    social_links,
)

pytest_plugins = ["leadgen.tests.fake_web"]

HOMEPAGE = """<!doctype html>
<html><head>
<meta charset="utf-8">
<title>  Acme Robotics —
  Warehouse automation </title>
<meta name="description" content="Acme builds   picking robots for mid-size warehouses.">
<meta property="og:description" content="OG text that loses to the plain description">
<link rel="stylesheet" href="/wp-content/themes/acme/style.css">
<script async src="https://www.googletagmanager.com/gtag/js?id=G-123"></script>
<script src="//js.hs-scripts.com/123456.js" id="hs-script-loader"></script>
<script src="https://js.stripe.com/v3/"></script>
<script id="__NEXT_DATA__" type="application/json">{"props": {}}</script>
<style>.hero { color: red }</style>
</head>
<body>
<nav><a href="/">Home</a> <a href="/company/about-acme">About us</a> <a href="/pricing">Pricing</a></nav>
<main><h1>Robots that pick</h1><p>Hello from the homepage.</p></main>
<footer>
  <a href="https://www.linkedin.com/company/acme-robotics/">LinkedIn</a>
  <a href="https://twitter.com/intent/tweet?text=hi">Share</a>
  <a href="https://x.com/acmerobots">X</a>
  <a href="https://www.facebook.com/sharer/sharer.php?u=acme">Share on Facebook</a>
  <a href="https://www.facebook.com/acmerobotics">Facebook</a>
  <a href="https://github.com/acme-robotics">GitHub</a>
  <a href="https://www.youtube.com/@acmerobotics">YouTube</a>
</footer>
</body></html>
"""

ABOUT_PAGE = """<html><head><title>About Acme</title>
<script>var tracking = "SECRET-SCRIPT-TEXT";</script>
<script src="https://widget.intercom.io/widget/abc"></script>
</head><body>
<nav>Home Pricing Careers</nav>
<main>
<h1>About   Acme Robotics</h1>
<p>Founded in 2015 in Lyon, Acme Robotics   builds autonomous picking robots
for mid-size warehouses. We employ 120 people.</p>
<style>p { margin: 0 }</style>
<p>Our customers include regional grocers and e-commerce fulfilment centres across Europe.</p>
</main>
<footer>Copyright Acme FOOTER-TEXT</footer>
</body></html>
"""


def _site(fake_web, robots: str = "User-agent: *\nAllow: /\n") -> None:
    fake_web.route("/robots.txt", robots, headers={"Content-Type": "text/plain"})
    fake_web.route("/", HOMEPAGE)
    fake_web.route("/company/about-acme", ABOUT_PAGE)


def test_extracts_title_description_about_technologies_and_social_links(fake_web):
    _site(fake_web)
    facts = fetch_company_site(fake_web.host)

    home, about = fake_web.url("/"), fake_web.url("/company/about-acme")
    assert facts.title == "Acme Robotics — Warehouse automation"
    assert facts.description == "Acme builds picking robots for mid-size warehouses."
    assert facts.about_text.startswith("About Acme Robotics\nFounded in 2015 in Lyon, Acme Robotics builds")
    assert "regional grocers" in facts.about_text
    for hidden in ("SECRET-SCRIPT-TEXT", "margin", "FOOTER-TEXT", "Careers"):
        assert hidden not in facts.about_text
    assert facts.technologies == [
        "WordPress",
        "HubSpot",
        "Google Analytics",
        "Stripe",
        "Next.js",
        "React",
        "Intercom",
    ]
    assert facts.social_links == {
        "linkedin": "https://www.linkedin.com/company/acme-robotics",
        "twitter": "https://x.com/acmerobots",
        "facebook": "https://www.facebook.com/acmerobotics",
        "github": "https://github.com/acme-robotics",
        "youtube": "https://www.youtube.com/@acmerobotics",
    }
    assert facts.pages_fetched == [home, about]
    assert facts.homepage_url == home and facts.about_url == about
    # https was tried first; the plain-HTTP test server cannot speak TLS, so http was used.
    assert any(error.startswith(f"https://{fake_web.host}/robots.txt") for error in facts.errors)

    # Every fact can be cited: it carries the URL it was read from and the supporting text.
    by_kind = {item.kind: item for item in facts.evidence}
    assert by_kind["title"].url == home
    assert by_kind["about"].url == about and by_kind["about"].text == facts.about_text
    intercom = next(item for item in facts.evidence_for("technology") if item.text.startswith("Intercom"))
    assert intercom.url == about and "widget.intercom.io" in intercom.text
    stripe = next(item for item in facts.evidence_for("technology") if item.text.startswith("Stripe"))
    assert stripe.url == home and "js.stripe.com" in stripe.text
    assert {item.text for item in facts.evidence_for("social")} == set(facts.social_links.values())


def test_robots_disallow_all_for_our_bot_fetches_nothing(fake_web):
    _site(fake_web, robots="User-agent: LeadgenBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    facts = fetch_company_site(fake_web.host)
    assert facts.title == "" and facts.pages_fetched == []
    assert any("robots.txt disallows" in error for error in facts.errors)
    assert fake_web.paths_requested() == ["/robots.txt"]


def test_robots_disallowed_about_page_is_skipped_for_an_allowed_one(fake_web):
    _site(fake_web, robots="User-agent: *\nDisallow: /company/\n")
    fake_web.route("/about", "<main><p>The allowed about page text.</p></main>")
    facts = fetch_company_site(fake_web.host)
    assert "/company/about-acme" not in fake_web.paths_requested()
    assert facts.about_url == fake_web.url("/about")
    assert facts.about_text == "The allowed about page text."
    assert any("robots.txt disallows" in error and "/company/about-acme" in error for error in facts.errors)


def test_other_bots_rules_do_not_apply(fake_web):
    _site(fake_web, robots="User-agent: BadBot\nDisallow: /\n")
    assert fetch_company_site(fake_web.host).title.startswith("Acme Robotics")


def test_robots_server_error_means_disallowed_and_missing_robots_means_allowed(fake_web):
    _site(fake_web)
    fake_web.route("/robots.txt", "oops", status=503)
    assert fetch_company_site(fake_web.host).pages_fetched == []

    del fake_web.routes["/robots.txt"]  # 404
    assert fetch_company_site(fake_web.host).pages_fetched[0] == fake_web.url("/")


def test_about_falls_back_to_conventional_paths(fake_web):
    fake_web.route("/", "<title>No links here</title><p>Home</p>")
    fake_web.route("/about-us", "<p>We are the about-us page.</p>")
    facts = fetch_company_site(fake_web.host)
    assert facts.about_url == fake_web.url("/about-us")
    assert facts.about_text == "We are the about-us page."
    assert "/about" in fake_web.paths_requested()  # tried first, 404


def test_oversized_homepage_is_cut_but_still_read(fake_web):
    head = "<html><head><title>Big Co</title></head><body>"
    fake_web.route("/", head.encode() + b"<p>" + b"filler " * 400_000)  # 2.8 MB
    facts = fetch_company_site(fake_web.host, max_bytes=1_500_000)
    assert facts.title == "Big Co"
    assert any("cut at 1500000 bytes" in error for error in facts.errors)
    assert len(facts.about_text) <= 4_001


def test_slow_site_times_out_without_hanging(fake_web):
    fake_web.route("/", "<title>late</title>", delay=5)
    started = time.monotonic()
    facts = fetch_company_site(fake_web.host, page_timeout=0.5)
    assert time.monotonic() - started < 3
    assert facts.title == ""
    assert any("timed out" in error.lower() or "timeout" in error.lower() for error in facts.errors)


def test_redirect_to_metadata_address_is_blocked(fake_web):
    fake_web.redirect("/", "http://169.254.169.254/latest/meta-data/")
    facts = fetch_company_site(fake_web.host)
    assert facts.pages_fetched == []
    assert any(error.startswith("blocked:") and "169.254.169.254" in error for error in facts.errors)


def test_internal_domain_is_blocked_without_any_request(settings):
    settings.NETGUARD_ALLOW_LOOPBACK = False
    for domain in ("localhost", "127.0.0.1", "10.0.0.5", "169.254.169.254", "[::1]", "2130706433"):
        facts = fetch_company_site(domain)
        assert facts.pages_fetched == []
        assert facts.errors and facts.errors[-1].startswith("blocked:"), (domain, facts.errors)


def test_non_html_homepage_is_reported(fake_web):
    fake_web.route("/", b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
    facts = fetch_company_site(fake_web.host)
    assert facts.title == ""
    assert any("application/pdf, not HTML" in error for error in facts.errors)


def test_domain_given_as_url_is_normalised(fake_web):
    _site(fake_web)
    assert normalize_domain(f"https://{fake_web.host}/some/path?x=1") == fake_web.host
    assert normalize_domain("WWW.Acme.COM.") == "www.acme.com"
    facts = fetch_company_site(f"http://{fake_web.host}/pricing")
    assert facts.homepage_url == fake_web.url("/")


@pytest.mark.parametrize(("name", "needle"), [(name, needles[0]) for name, needles in TECHNOLOGY_SIGNATURES])
def test_every_signature_detects_its_technology(name, needle):
    html = f"<html><head><script>{needle}</script></head></html>"
    assert name in [found for found, _snippet in detect_technologies(html)]


def test_naming_a_product_in_prose_is_not_a_detection():
    html = "<p>We migrated from WordPress and Shopify to Webflow, and we use HubSpot and Stripe.</p>"
    assert detect_technologies(html) == []


def test_header_signatures():
    found = dict(detect_technologies("<p>hi</p>", {"cf-ray": "8a1b-CDG", "x-powered-by": "PHP/8"}))
    assert set(found) == {"Cloudflare"}


def test_share_buttons_are_not_social_profiles():
    links = [
        ("https://twitter.com/share?url=x", ""),
        ("https://twitter.com/intent/tweet", ""),
        ("https://www.linkedin.com/shareArticle?mini=true", ""),
        ("https://www.facebook.com/dialog/share", ""),
        ("https://github.com/features/actions", ""),
        ("//twitter.com/acme_hq", ""),
        ("https://www.linkedin.com/school/acme-university/", ""),
    ]
    assert social_links(links) == {
        "twitter": "https://twitter.com/acme_hq",
        "linkedin": "https://www.linkedin.com/school/acme-university",
    }
