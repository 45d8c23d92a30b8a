"""gunicorn's worker class for the ASGI entry point: `gunicorn leadgen.asgi -k leadgen.asgi_worker.Worker`.

uvicorn's own worker, with its proxy-header handling off: by default uvicorn trusts X-Forwarded-For from
127.0.0.1 and rewrites the client address before the application sees it, which would make a header any client
can send decide the address whenever the app is reached on loopback. The app has one rule for that,
TRUSTED_PROXY_COUNT (leadgen/clientip.py), and the scheme comes from SECURE_PROXY_SSL_HEADER, as under WSGI.
"""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
