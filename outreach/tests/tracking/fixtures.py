"""Real request shapes for the bot rules: the user agents, networks and headers each kind of fetcher sends.

Addresses are examples inside each vendor's published networks (data/scanners.json, data/apple_egress.csv) or
documentation ranges for people; a hit keeps only their /24 or /48.
"""

from __future__ import annotations

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.2903.86"
)

# A person on a laptop: a residential address, a current browser.
HUMAN = {"ip": "203.0.113.57", "ua": CHROME_MAC, "headers": {}}
# Apple Mail Privacy Protection: Apple's relay network and the bare agent its proxy sends.
APPLE_MPP = {"ip": "172.226.14.9", "ua": "Mozilla/5.0", "headers": {}}
APPLE_MPP_WEBKIT = {
    "ip": "17.58.101.4",
    "ua": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "headers": {},
}
# iCloud Private Relay user clicking in Safari: Apple's network, a real browser.
APPLE_RELAY_SAFARI = {
    "ip": "172.226.14.9",
    "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "headers": {},
}
# Gmail's image proxy, fetching when the reader opens the mail.
GMAIL_PROXY = {
    "ip": "66.249.84.12",
    "ua": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "headers": {},
}
# The instant fetch right after delivery with a stale Edge/12 agent.
GMAIL_EDGE12 = {
    "ip": "66.102.8.40",
    "ua": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/42.0.2311.135 Safari/537.36 Edge/12.246",
    "headers": {},
}
YAHOO_PROXY = {
    "ip": "98.137.27.103",
    "ua": "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    "headers": {},
}
# Outlook.com / Exchange Online fetch images (opens) and detonate links (Safe Links) from the same network.
OUTLOOK_NETWORK = {"ip": "40.93.29.61", "ua": EDGE_WINDOWS, "headers": {}}
SAFE_LINKS_AGENT = {
    "ip": "52.167.144.20",
    "ua": "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "headers": {},
}
MIMECAST = {"ip": "207.211.30.44", "ua": CHROME_MAC, "headers": {}}
PROOFPOINT = {"ip": "148.163.150.33", "ua": EDGE_WINDOWS, "headers": {}}
BARRACUDA = {"ip": "64.235.150.12", "ua": CHROME_MAC, "headers": {}}
SCRIPT = {"ip": "198.51.100.20", "ua": "python-requests/2.32.3", "headers": {}}
# Chrome's speculative prefetch and Firefox's link prefetch.
SEC_PURPOSE = {"ip": "203.0.113.57", "ua": CHROME_MAC, "headers": {"sec-purpose": "prefetch;prerender"}}
X_MOZ = {"ip": "203.0.113.57", "ua": CHROME_MAC, "headers": {"x-moz": "prefetch"}}
