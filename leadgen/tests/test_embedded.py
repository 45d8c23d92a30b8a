"""A newcomer's `manage.py` and `python -m leadgen.embedded exec`: the app's database with no variables, beside a
running `make run` or on their own. Each command runs as a real subprocess against the embedded PostgreSQL of this
test run (its data directory is linked into a scratch one, so the scratch run state never touches `.data/`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from leadgen import embedded

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "from django.conf import settings; from django.db import connection; connection.ensure_connection(); "
    "print(connection.settings_dict['NAME'], settings.REDIS_URL, settings.DEBUG, getattr(settings, 'EMAIL_PORT', '-'))"
)


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="leadgen.settings.local", LEADGEN_DATA_DIR=str(data_dir), **extra)
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> list[str]:
    # Django's shell may print what it imported automatically before the command's own output.
    return result.stdout.strip().splitlines()[-1].split()


def _data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "pg").symlink_to(embedded.DATA / "pg")
    return data


def test_manage_py_starts_what_is_missing_with_no_variables(tmp_path: Path) -> None:
    env = _env(_data_dir(tmp_path))
    check = _run(env, "manage.py", "check")
    assert check.returncode == 0, check.stderr
    shell = _run(env, "manage.py", "shell", "-c", SHOW)
    assert shell.returncode == 0, shell.stderr
    name, redis_url, debug, _port = _last_line(shell)
    assert name == embedded.APP_DATABASE and debug == "True"
    assert "redis-cli-" in redis_url  # a Redis of its own, stopped when the command ends
    assert "DATABASE_URL must be set" not in shell.stderr


def test_manage_py_uses_the_services_of_a_running_make_run(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    with embedded.redis(f"beside-{os.getpid()}") as redis_url:
        # What `make run` records for other processes while it serves (this process stands in for it).
        embedded.state_write(
            data / "run" / "services.json", {"REDIS_URL": redis_url, "EMAIL_URL": "smtp://127.0.0.1:2525"}
        )
        shell = _run(_env(data), "manage.py", "shell", "-c", SHOW)
    assert shell.returncode == 0, shell.stderr
    name, used_redis, _debug, email_port = _last_line(shell)
    assert name == embedded.APP_DATABASE
    assert used_redis == redis_url
    assert email_port == "2525"


def test_exec_opens_the_app_database_unless_told_it_is_for_tests(tmp_path: Path) -> None:
    env = _env(_data_dir(tmp_path))
    env.pop("DJANGO_SETTINGS_MODULE")
    show = [
        sys.executable,
        "-c",
        "import os; print(os.environ['DATABASE_URL'].split('?')[0].rsplit('/', 1)[1])",
    ]
    app = _run(env, "-m", "leadgen.embedded", "exec", "--", *show)
    assert app.returncode == 0, app.stderr
    assert app.stdout.split()[-1] == embedded.APP_DATABASE
    tests = _run(env, "-m", "leadgen.embedded", "exec", "--test", "--", *show)
    assert tests.stdout.split()[-1] == embedded.TEST_DATABASE
    implied = _run(
        {**env, "DJANGO_SETTINGS_MODULE": "leadgen.settings.test"},
        "-m",
        "leadgen.embedded",
        "exec",
        "--",
        *show,
    )
    assert implied.stdout.split()[-1] == embedded.TEST_DATABASE


def test_a_new_cluster_sorts_by_code_point_and_still_knows_unicode_case(tmp_path: Path) -> None:
    """A fresh embedded cluster uses the "C" collation (byte comparisons in every text index: the import bench's
    quarter less database CPU per row) with Unicode-aware character classes, so sorting is code point order, as it
    was under C.UTF-8, and upper/lower/ILIKE/word search still handle accents."""
    import pgserver

    pgdata = tmp_path / "pg"
    pgdata.mkdir()
    locale_before = {name: os.environ.get(name) for name in ("LC_ALL", "LC_COLLATE", "LC_CTYPE")}
    with embedded._initdb_collation(fresh=True):
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        assert {name: os.environ.get(name) for name in locale_before} == locale_before
        shown = server.psql(
            "SELECT datcollate || ' ' || datctype FROM pg_database WHERE datname = 'postgres';"
            "SELECT string_agg(n, ' ' ORDER BY n) FROM unnest(ARRAY['émile', 'Zoe', 'adam', 'Éva', 'Bo']) n;"
            "SELECT upper('émile') || ' ' || ('ÉVA' ILIKE 'éva')::text;"
        )
    finally:
        server.cleanup()
    assert "C C.UTF-8" in shown
    assert "Bo Zoe adam Éva émile" in shown  # code point order: capitals, small letters, then accented ones
    assert "ÉMILE true" in shown
