"""A streamed download that streams under both entry points (leadgen/wsgi.py and leadgen/asgi.py).

Django serves a StreamingHttpResponse over a synchronous iterator under WSGI chunk by chunk, but under ASGI it
first collects the whole iterator into a list (`sync_to_async(list)`), and an asynchronous iterator under WSGI
the same way: a CSV export of a million prospects would sit in memory before the first byte left. So the view
hands its synchronous lines here, and under ASGI they are pulled a chunk at a time in Django's one sync thread (the
one that holds the request's database connection and server-side cursor), each chunk sent before the next is
read.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse


def _encoded(part: Any) -> bytes:
    return part if isinstance(part, bytes) else str(part).encode()


async def _in_chunks(lines: Iterable[Any], size: int) -> AsyncIterator[bytes]:
    iterator: Iterator[Any] = iter(lines)

    def take() -> bytes:
        return b"".join(_encoded(part) for part in itertools.islice(iterator, size))

    try:
        while chunk := await sync_to_async(take, thread_sensitive=True)():
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:  # a generator's cursor and transaction end even when the client went away
            await sync_to_async(close, thread_sensitive=True)()


def streamed(request: HttpRequest, lines: Iterable[Any], **kwargs: Any) -> StreamingHttpResponse:
    """A StreamingHttpResponse of `lines` (str or bytes) that streams whichever server runs the app; under ASGI
    STREAMED_CHUNK_LINES lines go in each chunk."""
    if isinstance(request, ASGIRequest):
        return StreamingHttpResponse(_in_chunks(lines, settings.STREAMED_CHUNK_LINES), **kwargs)
    return StreamingHttpResponse(lines, **kwargs)
