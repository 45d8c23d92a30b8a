"""The ASGI entry point: `gunicorn leadgen.asgi -k leadgen.asgi_worker.Worker`.

Django's ASGI handler, wrapped by the ASGI wrappers the composition root lists (settings.ASGI_WRAPPERS, innermost
first): the tracking fast path answers open pixels and click redirects on the event loop without blocking
(outreach/tracking/asgi.py). The WSGI entry point (leadgen/wsgi.py) serves the same application.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.production")

application = get_asgi_application()

from django.conf import settings  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

for _wrapper in settings.ASGI_WRAPPERS:
    application = import_string(_wrapper)(application)
