"""The company website the enrichment tests fetch: Acme Robotics' homepage and about page, served by the
`fake_web` server with loopback allowed for the SSRF guard only in the test that asks for it."""

from __future__ import annotations

from typing import Any

HOMEPAGE = """<!doctype html><html><head><title>Acme Robotics</title>
<meta name="description" content="Acme builds picking robots for mid-size warehouses.">
<script src="//js.hs-scripts.com/123.js"></script></head>
<body><nav><a href="/about">About us</a></nav><main><p>Robots that pick.</p></main>
<footer><a href="https://www.linkedin.com/company/acme-robotics/">LinkedIn</a></footer></body></html>"""
ABOUT = """<html><head><title>About</title></head><body><main><h1>About Acme</h1>
<p>Founded in 2015 in Lyon, Acme Robotics builds autonomous picking robots for mid-size warehouses.</p>
</main></body></html>"""


def acme_site(fake_web: Any, settings: Any) -> Any:
    """Route the site on `fake_web` and let the SSRF guard reach it (it refuses loopback otherwise)."""
    settings.NETGUARD_ALLOW_LOOPBACK = True
    settings.NETGUARD_ALLOWED_PORTS = [80, 443, fake_web.port]
    fake_web.route("/robots.txt", "User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"})
    fake_web.route("/", HOMEPAGE)
    fake_web.route("/about", ABOUT)
    return fake_web
