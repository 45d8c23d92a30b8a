from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.production")

application = get_wsgi_application()

# WSGI wrappers the composition root lists (settings.WSGI_WRAPPERS), innermost first: the tracking fast path
# answers open pixels and click redirects before Django's middleware (outreach/tracking/wsgi.py).
from django.conf import settings  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

for _wrapper in settings.WSGI_WRAPPERS:
    application = import_string(_wrapper)(application)
