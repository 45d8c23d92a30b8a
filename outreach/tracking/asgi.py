"""The tracking fast path for the ASGI entry point (leadgen/asgi.py, served by gunicorn's uvicorn worker).

An open pixel or a click is a token check and one or two Redis commands. Under sync gunicorn workers each request
holds its worker while it waits for Redis and for the client to close, so the rate is bounded by the number of
workers, not by the CPU (bench/README.md, "Tracking"). Here the same work is done on the worker's event loop with
Redis' asyncio client: one process keeps hundreds of these requests in flight, and httptools parses them in C.
The answers are the WSGI fast path's and the Django views' (outreach/tracking/answers.py). The rare parts that
need the database or Celery (a click whose links fell out of the cache; asking for a flush every
TRACKING_FLUSH_AT hits) run in a thread. Everything else, and every ASGI scope that is not HTTP, goes to the
wrapped application (Django's ASGI handler) untouched; lifespan is answered here, since Django does not speak it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from . import answers, buffer, links, views
from .tokens import token_read

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def meta_of(scope: Scope) -> dict[str, Any]:
    """The request as a WSGI environ would show it, for `views.hit_make` (client address, agent, bot headers)."""
    meta: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "REMOTE_ADDR": (scope.get("client") or ("",))[0],
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = "HTTP_" + raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        meta[name] = f"{meta[name]},{value}" if name in meta else value
    return meta


def _link_from_database(org_id: int, message_id: int, link_index: int) -> str | None:
    try:
        return links.link_url(org_id=org_id, message_id=message_id, link_index=link_index)
    finally:
        close_old_connections()


class Coalesced:
    """Calls that arrive while one is in flight are made together, as the next one (a group commit).

    Under load hundreds of hits wait on Redis at once; one RPUSH of all of them (one pipeline of HGETs) costs a
    round trip and two system calls instead of hundreds. Each caller still waits for its own item's answer, so a
    request is answered only after its hit is in Redis, as before. `run` takes the items and returns one result
    per item; when it raises, every caller of that batch gets the error.
    """

    def __init__(self, run: Callable[[list[Any]], Awaitable[list[Any]]]) -> None:
        self.run = run
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((item, future))
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self.run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running = False


class _LoopState:
    """Per event loop (one per worker process in production): the asyncio Redis client and the batchers."""

    def __init__(self) -> None:
        import redis.asyncio

        location = str(settings.CACHES["default"]["LOCATION"]).split(",")[0]
        self.redis = redis.asyncio.Redis.from_url(location)
        self.append = Coalesced(self._rpush)
        self.link = Coalesced(self._hget)
        self._flush_tasks: set[asyncio.Task[Any]] = set()

    async def _rpush(self, hits: list[str]) -> list[None]:
        length = int(await self.redis.rpush(buffer.key(buffer.BUFFER_KEY), *hits))
        if any(buffer.flush_due(n) for n in range(length - len(hits) + 1, length + 1)):
            task = asyncio.get_running_loop().create_task(
                sync_to_async(buffer.flush_ask, thread_sensitive=False)()
            )
            self._flush_tasks.add(task)  # kept until done, so it is not collected half-way
            task.add_done_callback(self._flush_tasks.discard)
        return [None] * len(hits)

    async def _hget(self, keys: list[tuple[str, str]]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for name, field in keys:
            pipe.hget(name, field)
        return list(await pipe.execute())


class TrackingASGI:
    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self._states: dict[int, _LoopState] = {}

    def _state(self) -> _LoopState:
        loop = id(asyncio.get_running_loop())
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        return state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        found = answers.route(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            return await self.app(scope, receive, send)
        kind, token = found
        try:
            status, headers, body = await (
                self._pixel(token, scope) if kind == "o" else self._click(token, scope)
            )
        except Exception:
            # Redis or the database is down: Django's view answers (and fails the same way, logged as usual).
            logger.exception("tracking fast path failed; handing the request to Django")
            return await self.app(scope, receive, send)
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _append(self, target: Any, scope: Scope) -> None:
        await self._state().append(buffer.hit_encode(views.hit_make(meta_of(scope), target)))

    async def _pixel(self, token: str, scope: Scope) -> answers.Answer:
        target = token_read(token, kind="o")
        if target is not None:
            await self._append(target, scope)
        return answers.pixel_answer()

    async def _click(self, token: str, scope: Scope) -> answers.Answer:
        target = token_read(token, kind="c")
        if target is None or target.link_index is None:
            return answers.click_answer(None)
        cached = await self._state().link(
            (links.cache_key(target.org_id, target.message_id), str(target.link_index))
        )
        if cached is not None:
            url = links.usable(cached.decode())
        else:
            url = await sync_to_async(_link_from_database, thread_sensitive=True)(
                target.org_id, target.message_id, target.link_index
            )
        if url is not None:
            await self._append(target, scope)
        return answers.click_answer(url)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for state in self._states.values():
                    await state.redis.aclose()
                self._states.clear()
                await send({"type": "lifespan.shutdown.complete"})
                return
