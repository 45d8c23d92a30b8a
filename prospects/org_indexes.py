"""Indexes over one organisation's rows, for the organisations holding many of them.

A table-wide index serves every tenant and every tenant's insert pays for it. Some indexes only earn their cost in
a big organisation: a search graph whose recall falls with the organisation's share of it (the HNSW index of
prospects.scoring.vector_indexes), or a list sort that PostgreSQL answers by sorting the organisation's rows in a
few milliseconds until it holds tens of thousands of them (prospects.sort_indexes). Such an organisation gets a
partial index of its own (`... WHERE org_id = <id>`), which a query with `org_id = <id>` uses by itself.

`maintain` runs outside any transaction (CONCURRENTLY needs that), one run per kind at a time across workers: it
builds the indexes an organisation over the threshold lacks (CONCURRENTLY, so writes go on), rebuilds the ones an
interrupted build left invalid, and drops those of organisations that shrank below half the threshold (no rebuild
churn around it) or were deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models
from django.db.models import Count

log = logging.getLogger(__name__)

LOCK_SECONDS = 6 * 3600


@dataclass(frozen=True)
class OrgIndexKind:
    """What an organisation holding at least `threshold_setting` rows of `model` gets: `indexes()` maps each
    index's name pattern ("prefix_{org}_suffix") to the text after `ON <table>` (access method, columns, options),
    without the WHERE clause."""

    label: str
    model: type[models.Model]
    indexes: Callable[[], dict[str, str]]
    threshold_setting: str
    lock_key: str
    build_memory_setting: str = ""  # the setting naming a build's maintenance_work_mem, else the server's

    @property
    def table(self) -> str:
        return str(self.model._meta.db_table)

    def names(self, org_id: int) -> dict[str, str]:
        """The organisation's index names → their definitions."""
        return {pattern.format(org=int(org_id)): body for pattern, body in self.indexes().items()}

    def org_of(self, name: str) -> int | None:
        """The organisation an index of this kind belongs to, from its name; None for any other index."""
        for pattern in self.indexes():
            prefix, _, suffix = pattern.partition("{org}")
            middle = name[len(prefix) : len(name) - len(suffix)]
            if name.startswith(prefix) and name.endswith(suffix) and middle.isdigit():
                return int(middle)
        return None

    def counts(self) -> dict[int, int]:
        """org id → rows it holds."""
        rows = self.model._default_manager.unscoped()  # type: ignore[attr-defined]
        return dict(rows.values_list("org_id").annotate(n=Count("id")).values_list("org_id", "n"))


@dataclass
class Maintenance:
    built: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    skipped: bool = False


def existing(kind: OrgIndexKind) -> dict[int, dict[str, bool]]:
    """org id → {index name: valid} (an interrupted CONCURRENTLY build leaves an invalid index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass",
            [kind.table],
        )
        rows = cursor.fetchall()
    found: dict[int, dict[str, bool]] = {}
    for name, valid in rows:
        org_id = kind.org_of(name)
        if org_id is not None:
            found.setdefault(org_id, {})[name] = bool(valid)
    return found


def _build(kind: OrgIndexKind, org_id: int, names: list[str]) -> None:
    definitions = kind.names(org_id)
    memory = getattr(settings, kind.build_memory_setting) if kind.build_memory_setting else None
    with connection.cursor() as cursor:
        if memory:
            # A session setting, reset below: a build that fits in maintenance_work_mem is far faster.
            cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [memory])
        try:
            for name in names:
                cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
                # Identifiers and numbers only (org_id is an int); CREATE INDEX takes no bind parameters.
                cursor.execute(
                    f'CREATE INDEX CONCURRENTLY "{name}" ON {kind.table} {definitions[name]} '
                    f"WHERE org_id = {int(org_id)}"
                )
        finally:
            if memory:
                cursor.execute("RESET maintenance_work_mem")


def _drop(kind: OrgIndexKind, names: list[str]) -> None:
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def maintain(kind: OrgIndexKind, *, min_rows: int | None = None) -> Maintenance:
    """Build, repair and drop `kind`'s per-organisation indexes (see the module docstring); `min_rows` overrides
    the threshold setting."""
    threshold = getattr(settings, kind.threshold_setting) if min_rows is None else min_rows
    result = Maintenance()
    if not cache.add(kind.lock_key, "1", LOCK_SECONDS):
        result.skipped = True
        return result
    try:
        counts = kind.counts()
        found = existing(kind)
        for org_id, indexes in sorted(found.items()):
            if counts.get(org_id, 0) < threshold // 2:
                _drop(kind, sorted(indexes))
                result.dropped.append(org_id)
                log.info("dropped %s of org %s (%s rows)", kind.label, org_id, counts.get(org_id, 0))
                continue
            missing = [name for name in kind.names(org_id) if not indexes.get(name, False)]
            if missing:
                _build(kind, org_id, missing)
                result.built.append(org_id)
        for org_id, n in sorted(counts.items()):
            if n >= threshold and org_id not in found:
                log.info("building %s for org %s (%s rows)", kind.label, org_id, n)
                _build(kind, org_id, list(kind.names(org_id)))
                result.built.append(org_id)
    finally:
        cache.delete(kind.lock_key)
    return result
