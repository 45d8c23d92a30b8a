"""The set-based SQL fast path of CSV imports: staging, COPY and upsert.

The engine never holds the file in memory. A parser thread reads the file through a text wrapper, cleans rows in
Python (`imports.cleaning`) and hands chunks (already formatted for COPY) to the main thread through a small bounded
queue; the main thread COPYs each chunk into a temporary staging table and applies it with a handful of set-based
statements (companies upsert, INSERT ... ON CONFLICT on the email key, LinkedIn/name matching for rows without
email, one timeline row per created or updated prospect). Parsing (Python, one core) and the SQL (the Postgres
backend, another core) overlap. Each chunk is its own transaction, and the job's counters move with it.

The dedup and suppression rules are `prospects.services.prospect_upsert`'s, applied to a whole chunk at once;
`tests/imports/test_parity.py` holds the two paths to the same result.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from leadgen.tenancy import org_scope
from prospects.fields import (
    COMPANY_FIELDS,
    COMPANY_LIST_FIELDS,
    COMPANY_NUMBER_FIELDS,
    CUSTOM_KEYS_MAX,
    PROFILE_FIELDS,
    TAGS_MAX,
)
from prospects.imports.cleaning import (
    STAGE_COLUMNS,
    TAG_SEPARATOR,
    RowCleaner,
    RowError,
    dedupe_key,
    merge_rows,
    raw_cells,
)
from prospects.imports.formats import ImportFileError, open_text, read_rows
from prospects.models import (
    Activity,
    Company,
    Import,
    ImportRowError,
    ImportStatus,
    Prospect,
    Source,
    SuppressionKind,
)

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000


@dataclass
class Chunk:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    merged: int = 0  # rows folded into a later row of the same person
    seen: int = 0
    copy_data: bytes = b""


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressed: int = 0
    failed: int = 0
    processed: int = 0
    created_without_email: int = 0  # of created


_COPY_NULL = "\\N"


def _copy_escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\x00", "")
    )


def _copy_bytes(rows: list[tuple[str | None, ...]]) -> bytes:
    """COPY text format. Escaping is only needed for the rare row holding a backslash, tab, newline or NUL."""
    separators = len(STAGE_COLUMNS) - 1
    lines = []
    for row in rows:
        line = "\t".join([_COPY_NULL if v is None else v for v in row])
        special = line.count("\\") != row.count(None) or "\n" in line or "\r" in line or "\x00" in line
        if special or line.count("\t") != separators:
            line = "\t".join([_COPY_NULL if v is None else _copy_escape(v) for v in row])
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode()


def iter_chunks(job: Import, cleaner: RowCleaner, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Parse and clean the file, yielding bounded chunks deduplicated by person (see dedupe_key)."""
    with default_storage.open(job.file_path, "rb") as stream:
        text = open_text(stream, job.encoding)
        _, raw_rows = read_rows(text, job.delimiter)
        chunk = Chunk()
        by_key: dict[tuple[str, ...], tuple[Any, ...]] = {}
        for raw in raw_rows:
            chunk.seen += 1
            if raw.cells is None:
                chunk.errors.append((raw.line, raw.error, "[]"))
            else:
                try:
                    row = cleaner.clean(raw.cells)
                except RowError as exc:
                    chunk.errors.append((raw.line, str(exc)[:500], raw_cells(raw.cells)))
                else:
                    row = (str(raw.line), *row[1:])
                    key = dedupe_key(row)
                    earlier = by_key.get(key)
                    if earlier is not None:
                        chunk.merged += 1
                        row = merge_rows(earlier, row)
                    by_key[key] = row
            if chunk.seen >= chunk_rows:
                chunk.rows = list(by_key.values())
                chunk.copy_data = _copy_bytes(chunk.rows)
                yield chunk
                chunk, by_key = Chunk(), {}
        if chunk.seen:
            chunk.rows = list(by_key.values())
            chunk.copy_data = _copy_bytes(chunk.rows)
            yield chunk
        text.detach()


_STOP = object()


def _prefetch(chunks: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Run the parser in a thread so Python parsing overlaps the database's work on the previous chunk."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
            offer(_STOP)
        except BaseException as exc:
            offer(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # closes the file when the consumer stopped early

    worker = threading.Thread(target=produce, name="csv-import-parser", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _STOP:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                handoff.get_nowait()
        worker.join(timeout=5)


def _defaults(model: type[models.Model], provided: set[str]) -> tuple[list[str], list[Any]]:
    """Columns we do not set, with their model defaults, so the raw INSERT keeps up with new fields."""
    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.generated or f.column in provided:
            continue
        if f.has_default():
            value = f.get_db_prep_save(f.get_default(), connection)
        elif f.null:
            value = None
        else:
            value = f.get_db_prep_save("", connection)
        columns.append(str(f.column))
        values.append(value)
    return columns, values


_STAGE_DDL = """
    DROP TABLE IF EXISTS pg_temp.import_stage;
    CREATE TEMP TABLE import_stage (
        line integer NOT NULL, email text NOT NULL, email_normalized text, email_domain text,
        first_name text NOT NULL, last_name text NOT NULL, title text NOT NULL, seniority text NOT NULL,
        department text NOT NULL, phone text NOT NULL, linkedin_url text NOT NULL, linkedin_normalized text,
        location text NOT NULL, timezone text NOT NULL, company_name text NOT NULL, company_domain text,
        tags text NOT NULL, custom_fields jsonb, do_not_contact boolean,
        company_industry text, company_employee_count bigint, company_technologies text,
        company_funding_stage text, company_funding_total bigint, company_linkedin_url text,
        company_location text, company_keywords text,
        target_id bigint, company_id bigint
    ) ON COMMIT DROP
"""
# Plain text fields: a non-empty incoming value replaces the stored one, an empty one never blanks it.
_UPDATE_TEXT = tuple(f for f in PROFILE_FIELDS if f != "company_domain")
_UPDATE_NULLABLE = ("email_normalized", "linkedin_normalized", "company_id")
_INSERT_FIELDS = (
    *_UPDATE_TEXT,
    "email_normalized",
    "linkedin_normalized",
    "company_domain",
    "tags",
    "custom_fields",
    "company_id",
    "do_not_contact",
)
# A company column's new value from the import over the stored one: with "update existing" a value in the
# file replaces the stored one, else the file only fills what is blank (what enrichment or a person set stays).
_COMPANY_BLANK = {
    name: "NULL" if name in COMPANY_NUMBER_FIELDS else "'{}'" if name in COMPANY_LIST_FIELDS else "''"
    for name in COMPANY_FIELDS
}


def _company_value(column: str, name: str, *, overwrite: bool) -> str:
    """Stored `c`, incoming EXCLUDED."""
    blank = _COMPANY_BLANK[name]
    new, old = f"EXCLUDED.{column}", f"c.{column}"
    if name in COMPANY_NUMBER_FIELDS:
        return f"COALESCE({new}, {old})" if overwrite else f"COALESCE({old}, {new})"
    if overwrite:
        return f"CASE WHEN {new} = {blank} THEN {old} ELSE {new} END"
    return f"CASE WHEN {old} = {blank} THEN {new} ELSE {old} END"


def _new_values(p: str, s: str, *, tags: str = "", custom: str = "") -> list[tuple[str, str]]:
    """(column, expression of its new value) for an update of prospect alias `p` from incoming alias `s`."""
    tags = tags or f"{s}.tags"
    custom = custom or f"{s}.custom_fields"
    pairs = [(c, f"COALESCE(NULLIF({s}.{c}, ''), {p}.{c})") for c in _UPDATE_TEXT if c != "company_name"]
    # As prospect_upsert: a person without a company name takes the name of the company they are newly linked to.
    pairs.append(
        (
            "company_name",
            f"COALESCE(NULLIF({s}.company_name, ''), NULLIF({p}.company_name, ''), "  # noqa: S608
            f"CASE WHEN {s}.company_id IS DISTINCT FROM {p}.company_id THEN "
            f"(SELECT NULLIF(c.name, '') FROM prospects_company c WHERE c.id = {s}.company_id) END, "
            f"{p}.company_name)",
        )
    )
    pairs += [(c, f"COALESCE({s}.{c}, {p}.{c})") for c in _UPDATE_NULLABLE]
    pairs.append(("company_domain", f"COALESCE(NULLIF({s}.company_domain, ''), {p}.company_domain)"))
    pairs.append(
        (
            "tags",
            f"(SELECT COALESCE(array_agg(t ORDER BY n), '{{}}') FROM (SELECT t, min(n) AS n FROM "  # noqa: S608
            f"unnest({p}.tags || {tags}) WITH ORDINALITY AS u(t, n) GROUP BY t) AS merged)",
        )
    )
    pairs.append(("custom_fields", f"{p}.custom_fields || {custom}"))
    # An import raises do-not-contact, never clears it (as prospect_upsert).
    pairs.append(("do_not_contact", f"({p}.do_not_contact OR COALESCE({s}.do_not_contact, false))"))
    return pairs


def _changed(pairs: list[tuple[str, str]], p: str) -> str:
    old = ", ".join(f"{p}.{c}" for c, _ in pairs)
    new = ", ".join(expr for _, expr in pairs)
    return f"ROW({old}) IS DISTINCT FROM ROW({new})"


class _ChunkWriter:
    """The set-based SQL that applies one staged chunk to the organisation's prospects.

    Statements are assembled only from this module's constants and model column names (hence the S608 noqa);
    every value travels as a query parameter or through COPY.
    """

    def __init__(self, job: Import) -> None:
        self.job = job
        self.org_id = job.org_id
        self.errors: list[tuple[int, str, str]] = []  # the last chunk's failed rows
        label = job.original_name[:200]
        self.summary_created = f"Imported from {label}"[:500]
        self.summary_updated = f"Updated by import of {label}"[:500]
        provided = {"org_id", "source", "source_detail", "created_at", "updated_at", *_INSERT_FIELDS}
        self.default_columns, self.default_values = _defaults(Prospect, provided)
        self.company_default_columns, self.company_default_values = _defaults(
            Company, {"org_id", "name", "domain", "created_at", "updated_at", *COMPANY_FIELDS.values()}
        )
        self.activity_default_columns, self.activity_default_values = _defaults(
            Activity, {"org_id", "prospect_id", "kind", "actor_id", "summary", "data", "created_at"}
        )

    def _activity_cte(self, source: str) -> tuple[str, list[Any]]:
        extra = "".join(f", {c}" for c in self.activity_default_columns)
        placeholders = "".join(", %s" for _ in self.activity_default_values)
        sql = f"""
            act AS (
                INSERT INTO prospects_activity (org_id, prospect_id, kind, actor_id, summary, data, created_at{extra})
                SELECT %s, id, 'imported', %s, CASE WHEN created THEN %s ELSE %s END,
                       jsonb_build_object('import_id', %s::bigint, 'result',
                                          CASE WHEN created THEN 'created' ELSE 'updated' END),
                       now(){placeholders}
                FROM {source}
            )
        """  # noqa: S608
        params = [
            self.org_id,
            self.job.created_by_id,
            self.summary_created,
            self.summary_updated,
            self.job.pk,
            *self.activity_default_values,
        ]
        return sql, params

    def write(self, cursor: Any, chunk: Chunk) -> Counts:
        counts = Counts(processed=chunk.seen, unchanged=chunk.merged)
        # Trigram and tag GIN entries go to the pending list and are merged in bulk, far cheaper than row by row;
        # losing the last chunk's commit in a crash is harmless because re-running an import is idempotent.
        cursor.execute("SET LOCAL gin_pending_list_limit = '64MB'; SET LOCAL synchronous_commit = off")
        cursor.execute(_STAGE_DDL)
        columns = ", ".join(STAGE_COLUMNS)
        with cursor.cursor.copy(f"COPY import_stage ({columns}) FROM STDIN") as copy:
            copy.write(chunk.copy_data)
        # Without statistics the planner guesses 1,000 rows for the temp table and picks poor joins.
        cursor.execute(
            "ANALYZE import_stage (email_normalized, linkedin_normalized, company_domain, target_id)"
        )
        staged = len(chunk.rows)
        counts.suppressed = self._drop_suppressed(cursor)
        self._upsert_companies(cursor)
        cursor.execute(
            "UPDATE import_stage s SET company_id = c.id FROM prospects_company c "
            "WHERE c.org_id = %s AND c.domain = s.company_domain",
            [self.org_id],
        )
        self._match_linkedin_for_new_emails(cursor)
        self._drop_unchanged(cursor)
        over_limits = self._drop_over_limits(cursor, matched="email")
        self._name_new_people_after_their_company(cursor, with_email=True)
        created, updated = self._upsert_by_email(cursor)
        counts.created += created
        counts.updated += updated
        self._match_without_email(cursor)
        over_limits += self._drop_over_limits(cursor, matched="target")
        counts.updated += self._update_matched(cursor)
        self._name_new_people_after_their_company(cursor, with_email=False)
        counts.created_without_email = self._insert_without_email(cursor)
        counts.created += counts.created_without_email
        chunk_errors = [*chunk.errors, *over_limits]
        counts.failed = len(chunk_errors)
        counts.unchanged += staged - counts.suppressed - counts.created - counts.updated - len(over_limits)
        self.errors = chunk_errors
        return counts

    def _drop_over_limits(self, cursor: Any, *, matched: str) -> list[tuple[int, str, str]]:
        """Rows that would give a person they update more tags or custom fields than a prospect may hold fail,
        as prospect_upsert refuses them (the row alone was checked when it was cleaned)."""
        if not self.job.update_existing:
            return []
        if matched == "email":
            join = "p.email_normalized = s.email_normalized AND s.target_id IS NULL"
        else:
            join = "p.id = s.target_id"
        cursor.execute(
            f"""
            WITH over AS (
                SELECT s.line,
                       (SELECT count(*) FROM jsonb_object_keys(p.custom_fields || COALESCE(s.custom_fields, '{{}}')))
                           AS custom_count,
                       (SELECT count(DISTINCT t) FROM unnest(p.tags || string_to_array(s.tags, chr(31))) AS t)
                           AS tag_count
                FROM import_stage s JOIN prospects_prospect p ON p.org_id = %s AND {join}
            )
            DELETE FROM import_stage s USING over o
            WHERE s.line = o.line AND (o.custom_count > %s OR o.tag_count > %s)
            RETURNING s.line, o.custom_count, o.tag_count
            """,  # noqa: S608
            [self.org_id, CUSTOM_KEYS_MAX, TAGS_MAX],
        )
        errors = []
        for line, custom_count, tag_count in cursor.fetchall():
            if custom_count > CUSTOM_KEYS_MAX:
                reason = f"the person would have {custom_count} custom fields (at most {CUSTOM_KEYS_MAX})"
            else:
                reason = f"the person would have {tag_count} tags (at most {TAGS_MAX})"
            errors.append((int(line), reason, "[]"))
        return errors

    def _drop_suppressed(self, cursor: Any) -> int:
        cursor.execute(
            "SELECT DISTINCT kind FROM prospects_suppression WHERE org_id = %s",
            [self.org_id],
        )
        kinds = {row[0] for row in cursor.fetchall()}
        if not kinds:
            return 0
        subquery = "(SELECT value FROM prospects_suppression WHERE org_id = %s AND kind = %s)"
        conditions: list[str] = []
        params: list[Any] = []
        if SuppressionKind.EMAIL in kinds:
            conditions.append(f"s.email_normalized IN {subquery}")
            params += [self.org_id, SuppressionKind.EMAIL.value]
        if SuppressionKind.EMAIL_HASH in kinds:
            conditions.append(f"encode(sha256(convert_to(s.email_normalized, 'UTF8')), 'hex') IN {subquery}")
            params += [self.org_id, SuppressionKind.EMAIL_HASH.value]
        if SuppressionKind.DOMAIN in kinds:
            conditions.append(f"s.email_domain IN {subquery}")
            conditions.append(f"s.company_domain IN {subquery}")
            params += [self.org_id, SuppressionKind.DOMAIN.value] * 2
        cursor.execute(f"DELETE FROM import_stage s WHERE {' OR '.join(conditions)}", params)  # noqa: S608
        return int(cursor.rowcount)

    def _upsert_companies(self, cursor: Any) -> None:
        """One company per domain. Its name is the latest row's that has one and only fills a blank name; each company
        field takes the first value in the file (the last one with "update existing"), as prospect_upsert row by
        row would, and fills or replaces the stored one (see _company_value)."""
        extra = "".join(f", {c}" for c in self.company_default_columns)
        placeholders = "".join(", %s" for _ in self.company_default_values)
        overwrite = self.job.update_existing
        order = "line DESC" if overwrite else "line"
        columns = list(COMPANY_FIELDS.values())
        picks = ", ".join(
            f"(array_agg({name} ORDER BY {order}) FILTER (WHERE {name} IS NOT NULL))[1] AS {column}"
            for name, column in COMPANY_FIELDS.items()
        )
        inserted = ", ".join(
            f"x.{column}"
            if name in COMPANY_NUMBER_FIELDS
            else f"COALESCE(string_to_array(x.{column}, chr(31)), '{{}}')"
            if name in COMPANY_LIST_FIELDS
            else f"COALESCE(x.{column}, '')"
            for name, column in COMPANY_FIELDS.items()
        )
        new = {
            column: _company_value(column, name, overwrite=overwrite)
            for name, column in COMPANY_FIELDS.items()
        }
        new["name"] = "CASE WHEN c.name = '' THEN EXCLUDED.name ELSE c.name END"
        sets = ", ".join(f"{column} = {expr}" for column, expr in new.items())
        changed = f"ROW({', '.join(f'c.{column}' for column in new)}) IS DISTINCT FROM ROW({', '.join(new.values())})"
        cursor.execute(
            f"""
            INSERT INTO prospects_company AS c
                (org_id, name, domain, {", ".join(columns)}, created_at, updated_at{extra})
            SELECT %s, x.name, x.company_domain, {inserted}, now(), now(){placeholders}
            FROM (
                SELECT company_domain,
                       (array_agg(left(company_name, 255) ORDER BY (company_name = ''), line DESC))[1] AS name,
                       {picks}
                FROM import_stage WHERE company_domain IS NOT NULL GROUP BY company_domain
            ) AS x
            ON CONFLICT (org_id, domain) WHERE domain IS NOT NULL
            DO UPDATE SET {sets}, updated_at = now()
            WHERE {changed}
            """,  # noqa: S608
            [self.org_id, *self.company_default_values],
        )

    def _name_new_people_after_their_company(self, cursor: Any, *, with_email: bool) -> None:
        """A new person without a company name takes their company's (as prospect_upsert does). Only rows that
        will be inserted: an update keeps the stored name (see _new_values)."""
        if with_email:
            new = (
                "s.email_normalized IS NOT NULL AND NOT EXISTS (SELECT 1 FROM prospects_prospect e "
                "WHERE e.org_id = %s AND e.email_normalized = s.email_normalized)"
            )
            params = [self.org_id]
        else:
            new, params = "s.email_normalized IS NULL", []
        cursor.execute(
            f"""
            UPDATE import_stage s SET company_name = c.name FROM prospects_company c
            WHERE c.id = s.company_id AND s.company_name = '' AND c.name <> '' AND s.target_id IS NULL AND {new}
            """,  # noqa: S608
            params,
        )

    def _match_linkedin_for_new_emails(self, cursor: Any) -> None:
        """A row whose email is new but whose LinkedIn URL we know updates that person (as prospect_upsert does)."""
        cursor.execute(
            """
            UPDATE import_stage s SET target_id = m.id
            FROM (SELECT DISTINCT ON (p.linkedin_normalized) p.linkedin_normalized, p.id
                  FROM prospects_prospect p
                  WHERE p.org_id = %s AND p.linkedin_normalized IN
                        (SELECT linkedin_normalized FROM import_stage
                         WHERE linkedin_normalized IS NOT NULL AND email_normalized IS NOT NULL)
                  ORDER BY p.linkedin_normalized, p.id) AS m
            WHERE s.linkedin_normalized = m.linkedin_normalized AND s.email_normalized IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM prospects_prospect e
                              WHERE e.org_id = %s AND e.email_normalized = s.email_normalized)
            """,
            [self.org_id, self.org_id],
        )

    def _match_without_email(self, cursor: Any) -> None:
        cursor.execute(
            """
            UPDATE import_stage s SET target_id = m.id
            FROM (SELECT DISTINCT ON (p.linkedin_normalized) p.linkedin_normalized, p.id
                  FROM prospects_prospect p
                  WHERE p.org_id = %s AND p.linkedin_normalized IN
                        (SELECT linkedin_normalized FROM import_stage
                         WHERE linkedin_normalized IS NOT NULL AND email_normalized IS NULL)
                  ORDER BY p.linkedin_normalized, p.id) AS m
            WHERE s.email_normalized IS NULL AND s.linkedin_normalized = m.linkedin_normalized
            """,
            [self.org_id],
        )
        # Without email or LinkedIn URL, the same name at the same company is the same person.
        cursor.execute(
            """
            UPDATE import_stage s SET target_id = (
                SELECT min(p.id) FROM prospects_prospect p
                WHERE p.org_id = %s AND p.last_name = s.last_name AND p.first_name = s.first_name
                  AND lower(p.company_name) = lower(s.company_name)
                  AND p.email_normalized IS NULL AND p.linkedin_normalized IS NULL)
            WHERE s.email_normalized IS NULL AND s.linkedin_normalized IS NULL
            """,
            [self.org_id],
        )

    def _insert_select(self, where: str) -> tuple[str, list[Any]]:
        extra = "".join(f", {c}" for c in self.default_columns)
        placeholders = "".join(", %s" for _ in self.default_values)
        sql = f"""
            INSERT INTO prospects_prospect AS p
                (org_id, source, source_detail, created_at, updated_at, {", ".join(_INSERT_FIELDS)}{extra})
            SELECT %s, %s, %s, now(), now(),
                   {", ".join(f"s.{c}" for c in _UPDATE_TEXT)},
                   s.email_normalized, s.linkedin_normalized, COALESCE(s.company_domain, ''),
                   string_to_array(s.tags, %s), COALESCE(s.custom_fields, '{{}}'::jsonb), s.company_id,
                   COALESCE(s.do_not_contact, false){placeholders}
            FROM import_stage s
            WHERE {where}
        """  # noqa: S608
        params = [
            self.org_id,
            Source.CSV.value,
            f"Import of {self.job.original_name}"[:255],
            TAG_SEPARATOR,
            *self.default_values,
        ]
        return sql, params

    def _drop_unchanged(self, cursor: Any) -> None:
        """Rows that would change nothing leave the stage before the upsert. A read-only join is much cheaper than
        letting ON CONFLICT lock every existing row, and it makes a re-import nearly free."""
        condition = "true"
        if self.job.update_existing:
            pairs = _new_values(
                "p",
                "s",
                tags="string_to_array(s.tags, chr(31))",
                custom="COALESCE(s.custom_fields, '{}'::jsonb)",
            )
            condition = f"NOT ({_changed(pairs, 'p')})"
        cursor.execute(
            f"""
            DELETE FROM import_stage s USING prospects_prospect p
            WHERE p.org_id = %s AND p.email_normalized = s.email_normalized AND s.target_id IS NULL
              AND {condition}
            """,  # noqa: S608
            [self.org_id],
        )

    def _upsert_by_email(self, cursor: Any) -> tuple[int, int]:
        insert, params = self._insert_select("s.email_normalized IS NOT NULL AND s.target_id IS NULL")
        if self.job.update_existing:
            pairs = _new_values("p", "EXCLUDED")
            sets = ", ".join(f"{c} = {expr}" for c, expr in pairs)
            conflict = f"DO UPDATE SET {sets}, updated_at = now() WHERE {_changed(pairs, 'p')}"
        else:
            conflict = "DO NOTHING"
        activity, activity_params = self._activity_cte("up")
        cursor.execute(
            f"""
            WITH up AS (
                {insert}
                ON CONFLICT (org_id, email_normalized) WHERE email_normalized IS NOT NULL {conflict}
                RETURNING p.id, (p.xmax = 0) AS created
            ), {activity}
            SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up
            """,  # noqa: S608
            [*params, *activity_params],
        )
        created, updated = cursor.fetchone()
        return int(created), int(updated)

    def _update_matched(self, cursor: Any) -> int:
        if not self.job.update_existing:
            return 0
        pairs = _new_values("p", "s")
        sets = ", ".join(f"{c} = {expr}" for c, expr in pairs)
        activity, activity_params = self._activity_cte("up")
        incoming = ", ".join(
            "string_to_array(tags, %s) AS tags"
            if c == "tags"
            else "COALESCE(custom_fields, '{}'::jsonb) AS custom_fields"
            if c == "custom_fields"
            else c
            for c in (*STAGE_COLUMNS, "target_id", "company_id")
        )
        cursor.execute(
            f"""
            WITH incoming AS (
                SELECT DISTINCT ON (target_id) {incoming} FROM import_stage
                WHERE target_id IS NOT NULL ORDER BY target_id, line DESC
            ), up AS (
                UPDATE prospects_prospect p SET {sets}, updated_at = now()
                FROM incoming s
                WHERE p.id = s.target_id AND p.org_id = %s AND {_changed(pairs, "p")}
                RETURNING p.id, false AS created
            ), {activity}
            SELECT count(*) FROM up
            """,  # noqa: S608
            [TAG_SEPARATOR, self.org_id, *activity_params],
        )
        return int(cursor.fetchone()[0])

    def _insert_without_email(self, cursor: Any) -> int:
        insert, params = self._insert_select("s.email_normalized IS NULL AND s.target_id IS NULL")
        activity, activity_params = self._activity_cte("up")
        cursor.execute(
            f"""
            WITH up AS ({insert} RETURNING p.id, true AS created), {activity}
            SELECT count(*) FROM up
            """,  # noqa: S608
            [*params, *activity_params],
        )
        return int(cursor.fetchone()[0])


def _record_errors(job: Import, errors: list[tuple[int, str, str]]) -> None:
    if errors:
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(org_id=job.org_id, job_id=job.pk, line=line, reason=reason, raw=raw)
                for line, reason, raw in errors
            ],
            batch_size=2000,
        )


def _count_lines(job: Import) -> int:
    """Rough row count for the progress bar (newlines in quoted cells make it an overestimate, never less)."""
    total, last = 0, b""
    with default_storage.open(job.file_path, "rb") as stream:
        while block := stream.read(4 * 1024 * 1024):
            total += block.count(b"\n")
            last = block
    if last and not last.endswith(b"\n"):
        total += 1
    return max(total - 1, 0)


def import_execute(*, job: Import, chunk_rows: int = CHUNK_ROWS) -> Counts:
    """Run a claimed (running) job to the end. Rows that fail are recorded; the file as a whole fails only when
    it cannot be read at all."""
    totals = Counts()
    with org_scope(job.org_id):
        Import.objects.filter(pk=job.pk).update(total_rows=_count_lines(job))
        cleaner = RowCleaner(job.headers, job.mapping, job.tags)
        writer = _ChunkWriter(job)
        try:
            for chunk in _prefetch(iter_chunks(job, cleaner, chunk_rows)):
                counts = _write_chunk(job, writer, chunk)
                for name in (
                    "created",
                    "created_without_email",
                    "updated",
                    "unchanged",
                    "suppressed",
                    "failed",
                    "processed",
                ):
                    setattr(totals, name, getattr(totals, name) + getattr(counts, name))
        except (OperationalError, InterfaceError):
            raise  # the task retries these
        except (ImportFileError, UnicodeError, OSError, ValueError) as exc:
            Import.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
            )
            return totals
        Import.objects.filter(pk=job.pk).update(
            status=ImportStatus.DONE, total_rows=totals.processed, finished_at=timezone.now()
        )
    return totals


def _write_chunk(job: Import, writer: _ChunkWriter, chunk: Chunk) -> Counts:
    # A unique-key race with another writer (API, form, second import) is resolved by running the chunk again.
    for attempt in range(3):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                counts = writer.write(cursor, chunk)
                _record_errors(job, writer.errors)
                Import.objects.filter(pk=job.pk).update(
                    processed_rows=F("processed_rows") + counts.processed,
                    created_count=F("created_count") + counts.created,
                    created_without_email=F("created_without_email") + counts.created_without_email,
                    updated_count=F("updated_count") + counts.updated,
                    unchanged_count=F("unchanged_count") + counts.unchanged,
                    suppressed_count=F("suppressed_count") + counts.suppressed,
                    failed_count=F("failed_count") + counts.failed,
                )
                return counts
        except IntegrityError:
            if attempt == 2:
                raise
            log.warning("import %s: unique-key race, retrying chunk", job.pk)
    raise AssertionError("unreachable")
