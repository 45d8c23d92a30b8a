"""Map a function over a stream of work items in forked worker processes, results in the stream's order.

For CPU-bound pure Python (a large import's row cleaning) that the GIL keeps on one core. The workers are plain
`os.fork()` children, not `multiprocessing` ones: a Celery prefork worker is a daemonic process, and
`multiprocessing` refuses to start children from one. A child inherits everything the parent had set up (Django,
the function's closure), so it starts in a millisecond, and it must only compute: it never touches a database
connection or a file it inherited, and leaves with `os._exit`, so no atexit handler of the parent runs in it.
Its garbage collector leaves what it inherited alone (`gc.freeze`).

Items and results travel pickled over a pair of pipes per worker. Item k goes to worker k mod N; a feeder thread
sends while the caller's thread receives, so a worker blocked writing a result never holds up the next send.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_STOP = b""


class WorkerFailed(RuntimeError):
    """A worker raised (its exception is the cause when it could be pickled) or died."""


def _serve(work: Callable[[Any], Any], requests: Connection, results: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            message = requests.recv_bytes()
        except EOFError:
            return
        if message == _STOP:
            return
        try:
            reply: Any = ("ok", work(pickle.loads(message)))  # noqa: S301 (from our own parent process)
        except BaseException as exc:
            reply = ("error", _picklable(exc))
        results.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301
    except Exception:
        return WorkerFailed(f"{type(exc).__name__}: {exc}")
    return exc


class _Worker:
    pid: int
    requests: Connection
    results: Connection

    def __init__(self, work: Callable[[Any], Any], inherited: list[_Worker]) -> None:
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            status = 0
            # What the child inherited is never freed in it: the collector skips it from now on instead of
            # walking it again at every full collection (a third of a cleaning worker's time) and copying the
            # pages it touches.
            gc.freeze()
            try:
                os.close(request_write)
                os.close(result_read)
                for other in inherited:  # the parent's ends of earlier workers' pipes
                    other.requests.close()
                    other.results.close()
                _serve(
                    work, Connection(request_read, writable=False), Connection(result_write, readable=False)
                )
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(request_read)
        os.close(result_write)
        self.pid = pid
        self.requests = Connection(request_write, readable=False)
        self.results = Connection(result_read, writable=False)

    def stop(self, *, kill: bool) -> None:
        with contextlib.suppress(OSError):
            if kill:
                os.kill(self.pid, signal.SIGKILL)
            else:
                self.requests.send_bytes(_STOP)
        self.requests.close()
        self.results.close()
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def forkmap(work: Callable[[Item], Result], items: Iterable[Item], *, processes: int) -> Iterator[Result]:
    """`map(work, items)` over `processes` forked workers, in order. Closing the iterator early (or an
    exception anywhere) stops the workers; an exception raised by `work` is raised here."""
    workers: list[_Worker] = []
    for _ in range(max(1, processes)):
        workers.append(_Worker(work, workers))
    sent: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # the index of each item sent, None at the end
    feeding_failed: list[BaseException] = []
    cancelled = threading.Event()

    def feed() -> None:
        try:
            for index, item in enumerate(items):
                if cancelled.is_set():
                    return
                workers[index % len(workers)].requests.send_bytes(
                    pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
                )
                sent.put(index)
        except BaseException as exc:
            if not cancelled.is_set():
                feeding_failed.append(exc)
        finally:
            sent.put(None)

    feeder = threading.Thread(target=feed, name="forkmap-feeder", daemon=True)
    feeder.start()
    clean_exit = False
    try:
        while (index := sent.get()) is not None:
            try:
                status, value = pickle.loads(workers[index % len(workers)].results.recv_bytes())  # noqa: S301
            except (EOFError, OSError) as exc:
                raise WorkerFailed("a worker process died") from exc
            if status == "error":
                raise value
            yield value
        if feeding_failed:
            raise feeding_failed[0]
        clean_exit = True
    finally:
        cancelled.set()
        for worker in workers:
            worker.stop(kill=not clean_exit)
        feeder.join(timeout=5)
