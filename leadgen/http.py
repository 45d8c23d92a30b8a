"""Outbound HTTP to fixed, configured provider endpoints (Graph API, ESPs): one client shape for all.

Fetching URLs that come from users or prospect data needs the SSRF guard instead; this client is only for base
URLs that come from settings.
"""

from __future__ import annotations

import httpx

from leadgen.netguard import default_ssl_context

USER_AGENT = "Leadgen/0.1 (+https://github.com/leadgen)"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def provider_client(*, base_url: str, timeout: httpx.Timeout | float = DEFAULT_TIMEOUT) -> httpx.Client:
    """A client with timeouts (never wait forever on a provider), no redirects and our user agent."""
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        # A shared context: building one per client loads the CA bundle again (~50 ms a call).
        verify=default_ssl_context(),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )
