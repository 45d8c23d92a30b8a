"""The set-based SQL fast path of CSV imports: staging, file-wide dedup, COPY and upsert.

The engine never holds the file in memory. It works in three passes over an UNLOGGED staging table of its own
(`import_stage_<job id>`, dropped at the end):

1. Load: the file's rows are parsed and cleaned in Python (`imports.cleaning`) into chunks already formatted for
   COPY, which the importing process COPYs into the staging table, a transaction per chunk. A file of more than
   one chunk is cut into blocks of whole records (`imports.blocks`) that `IMPORT_PARSERS` forked workers decode,
   parse and clean; a small file, or one the blocks cannot cut, is read by one reader thread. Each row carries
   its sequence number in the file and its person key (email, else LinkedIn URL, else name at company); bad rows
   are recorded with their line number.
2. Fold: rows of one person anywhere in the file become one row (the later row wins, the earlier ones only fill
   blanks), so a re-import finds every person unchanged whatever chunks they fell in; suppressed people leave;
   companies are upserted once for the whole file. Then one pass of hash joins matches the whole file to the
   organisation (company, person by email, person by LinkedIn URL) and leaves out the rows that would change
   nothing, into `import_apply_<job id>`: a re-import stops here.
3. Apply: the rows left, in ranges of `chunk_rows`, are applied with a handful of set-based statements each
   (INSERT ... ON CONFLICT on the email key, LinkedIn/name matching for rows without email), one transaction per
   range that also moves the job's counters. `IMPORT_WRITERS` ranges run at once on their own connections: the
   ranges hold different people, so writers do not wait on each other.

A created person records the import and the row (`Prospect.import_job_id`, `import_line`; an update sets
`last_import_*`); the timeline shows "Imported from <file> (row N)" from there, so no Activity is written per row.
The dedup and suppression rules are `prospects.services.prospect_upsert`'s, applied to a whole range at once;
`tests/imports/test_parity.py` holds the two paths to the same result.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from leadgen.forkmap import forkmap
from leadgen.tenancy import org_scope
from prospects.fields import (
    COMPANY_FIELDS,
    COMPANY_LIST_FIELDS,
    COMPANY_NUMBER_FIELDS,
    CUSTOM_KEYS_MAX,
    PROFILE_FIELDS,
    TAGS_MAX,
)
from prospects.imports.blocks import Block, Unsplittable, block_records, split_blocks, splittable
from prospects.imports.cleaning import (
    STAGE_COLUMNS,
    TAG_SEPARATOR,
    RowCleaner,
    RowError,
    merge_rows,
    person_key,
    raw_cells,
)
from prospects.imports.formats import ImportFileError, RawRow, open_text, read_rows
from prospects.models import (
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
# Folded people are written back to the staging table in batches of this many.
FOLD_BATCH = 5_000


def import_writers() -> int:
    """How many ranges are applied at once: IMPORT_WRITERS, by default one per CPU of this host (the database
    host's cores are what count; set it when the database runs elsewhere). Inside a transaction (a caller's, or a
    test's) other connections cannot see the staging table, so one writer does it all."""
    if connection.in_atomic_block:
        return 1
    return _per_cpu("IMPORT_WRITERS")


def _per_cpu(setting: str) -> int:
    """The setting, or (when 0 or unset) one per CPU of this host."""
    return max(1, int(getattr(settings, setting, 0) or os.cpu_count() or 1))


@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    began = time.perf_counter()
    yield
    timings[step] = time.perf_counter() - began


@dataclass
class Chunk:
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    seen: int = 0
    first_seq: int = 0  # sequence number (0-based, in the file) of the chunk's first row
    copy_data: bytes = b""

    def __bool__(self) -> bool:
        return self.seen > 0


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
    """COPY text format. Escaping is only needed for the rare value holding a backslash, tab, newline or NUL, so
    the chunk is joined as it is and checked as a whole; a chunk that holds one is joined again, escaped."""
    if not rows:
        return b""
    text = "\n".join(["\t".join([_COPY_NULL if v is None else v for v in row]) for row in rows]) + "\n"
    if (
        text.count("\\") == sum(row.count(None) for row in rows)
        and text.count("\t") == (len(rows[0]) - 1) * len(rows)
        and text.count("\n") == len(rows)
        and "\r" not in text
        and "\x00" not in text
    ):
        return text.encode()
    lines = ["\t".join([_COPY_NULL if v is None else _copy_escape(v) for v in row]) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def iter_chunks(job: Import, cleaner: RowCleaner, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Parse and clean the file, yielding chunks of `chunk_rows` file rows as COPY rows of the job's staging table:
    (seq, person key, *STAGE_COLUMNS)."""
    with _records(job) as records:
        first_seq = 0
        while chunk := clean_batch(cleaner, first_seq, itertools.islice(records, chunk_rows)):
            yield chunk
            first_seq += chunk.seen


def raw_batches(job: Import, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
    """The file's records, `chunk_rows` at a time, with the sequence number (0-based) of each batch's first."""
    with _records(job) as records:
        first_seq = 0
        # Plain tuples: a named tuple pickles its class with every record, a third dearer to hand over.
        while batch := list(map(tuple, itertools.islice(records, chunk_rows))):
            yield first_seq, batch
            first_seq += len(batch)


@contextlib.contextmanager
def _records(job: Import) -> Iterator[Iterator[RawRow]]:
    with default_storage.open(job.file_path, "rb") as stream:
        text = open_text(stream, job.encoding)
        _, records = read_rows(text, job.delimiter)
        yield records
        text.detach()


def clean_batch(cleaner: RowCleaner, first_seq: int, raws: Iterable[tuple[Any, ...]]) -> Chunk:
    """One batch of records cleaned into a chunk (empty, and false, when there were none). People repeated within
    it are folded here already (cheap in Python); the fold pass does the rest of the file."""
    chunk = Chunk(first_seq=first_seq)
    by_key: dict[str, tuple[Any, ...]] = {}
    seq = first_seq - 1
    for seq, (line, cells, error) in enumerate(raws, start=first_seq):
        if cells is None:
            chunk.errors.append((line, error, "[]"))
            continue
        try:
            row = cleaner.clean(cells)
        except RowError as exc:
            chunk.errors.append((line, str(exc)[:500], raw_cells(cells)))
            _drop_tracebacks(exc)
            continue
        key = person_key(row)
        staged = (str(seq), key, str(line), *row[1:])
        earlier = by_key.get(key)
        if earlier is not None:
            staged = (staged[0], key, *merge_rows(earlier[2:], staged[2:]))
        by_key[key] = staged
    chunk.seen = seq + 1 - first_seq
    return _sealed(chunk, by_key)


def _drop_tracebacks(exc: BaseException | None) -> None:
    """Forget the frames of a row's error and of the errors it came from. Django's ValidationError refers to
    itself (error_list = [self]), so its traceback would keep the failed row's frames, and through them the frame
    cleaning the chunk with every row of it, alive until the garbage collector gets to it, instead of freeing
    the chunk as soon as it is sent."""
    while exc is not None:
        exc.__traceback__ = None
        exc = exc.__context__


def _sealed(chunk: Chunk, by_key: dict[str, tuple[Any, ...]]) -> Chunk:
    chunk.copy_data = _copy_bytes(list(by_key.values()))
    return chunk


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


# The cleaned row, as imports.cleaning lays it out (STAGE_COLUMNS).
_ROW_COLUMNS = """
    line integer NOT NULL, email text NOT NULL, email_normalized text, email_domain text,
    first_name text NOT NULL, last_name text NOT NULL, title text NOT NULL, seniority text NOT NULL,
    department text NOT NULL, phone text NOT NULL, linkedin_url text NOT NULL, linkedin_normalized text,
    location text NOT NULL, timezone text NOT NULL, company_name text NOT NULL, company_domain text,
    tags text NOT NULL, custom_fields jsonb, do_not_contact boolean,
    company_industry text, company_employee_count bigint, company_technologies text,
    company_funding_stage text, company_funding_total bigint, company_linkedin_url text,
    company_location text, company_keywords text
"""
# One range of the job's rows, in the transaction that applies it.
_STAGE_DDL = f"""
    DROP TABLE IF EXISTS pg_temp.import_stage;
    CREATE TEMP TABLE import_stage (
        {_ROW_COLUMNS}, target_id bigint, company_id bigint, existing_id bigint, linkedin_id bigint
    ) ON COMMIT DROP
"""
# The whole file, shared by the writers: UNLOGGED (nothing to recover after a crash, the job is re-run).
_JOB_STAGE_DDL = f"""
    DROP TABLE IF EXISTS {{table}};
    CREATE UNLOGGED TABLE {{table}} (seq integer NOT NULL, person text NOT NULL, {_ROW_COLUMNS})
        WITH (autovacuum_enabled = false)
"""
_JOB_STAGE_COLUMNS = ("seq", "person", *STAGE_COLUMNS)


def job_stage_table(job: Import) -> str:
    return f"import_stage_{int(job.pk)}"


def job_apply_table(job: Import) -> str:
    """The rows left to apply after the whole-file pass of _ChunkWriter.resolve, with what it matched."""
    return f"import_apply_{int(job.pk)}"


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


@dataclass(frozen=True)
class Span:
    """A range of the file's rows (by sequence number) that one transaction applies, and what was already decided
    about its rows before: failed while cleaning, suppressed."""

    first_seq: int
    seen: int
    failed: int = 0
    suppressed: int = 0


def _by_line(pick: str, value: str, *, cast: str = "", rank: str = "") -> str:
    """The aggregate of `value` from the row with the highest (pick="max") or lowest ("min") line, rows with a
    NULL value left out, `rank` (one character) deciding before the line."""
    key = f"{rank + ' || ' if rank else ''}lpad(line::text, 10, '0') || ({value})::text COLLATE \"C\""
    offset = 11 + (1 if rank else 0)
    picked = f"substr({pick}({key}), {offset})"
    return f"({picked})::{cast}" if cast else picked


def _range_has(cursor: Any, condition: str) -> bool:
    """Whether any row of the range meets `condition` (on `import_stage s`). The temp table has no statistics:
    a statement joining the organisation's prospects to the range's rows that meet it is planned as a hash of all
    of them, which for a range with no such row (every range of a first import) cost more than inserting it."""
    cursor.execute(f"SELECT EXISTS (SELECT 1 FROM import_stage s WHERE {condition})")  # noqa: S608
    return bool(cursor.fetchone()[0])


class _ChunkWriter:
    """The set-based SQL that applies the job's staged rows to the organisation's prospects.

    Statements are assembled only from this module's constants and model column names (hence the S608 noqa);
    every value travels as a query parameter or through COPY.
    """

    def __init__(self, job: Import) -> None:
        self.job = job
        self.org_id = job.org_id
        self.table = job_stage_table(job)
        self.apply_table = job_apply_table(job)
        self.errors: list[tuple[int, str, str]] = []  # the last range's failed rows
        self.timings: dict[str, float] = {}  # seconds of the whole-file steps, for the log
        provided = {"org_id", "source", "source_detail", "created_at", "updated_at", *_INSERT_FIELDS}
        provided |= {"import_job_id", "import_line"}
        self.default_columns, self.default_values = _defaults(Prospect, provided)
        self.company_default_columns, self.company_default_values = _defaults(
            Company, {"org_id", "name", "domain", "created_at", "updated_at", *COMPANY_FIELDS.values()}
        )

    def prepare(self, cursor: Any, *, chunk_rows: int) -> dict[int, int]:
        """The whole file's share of the work, before any range is applied: fold each person's rows into one,
        drop suppressed people and upsert the companies once. Returns suppressed rows by range index."""
        # Hash joins and aggregates over the whole file, in memory instead of in batches spilled to disk.
        cursor.execute("SET LOCAL work_mem = '128MB'")
        with _timed(self.timings, "fold"):
            _fold_people(cursor, self.table)
        suppressed = self._drop_suppressed(cursor, chunk_rows=chunk_rows)
        # Only what plans the companies upsert: a full ANALYZE of every column cost more than the upsert.
        cursor.execute(f"ANALYZE {self.table} (company_domain)")
        with _timed(self.timings, "companies"):
            self._upsert_companies(cursor)
        with _timed(self.timings, "match"):
            self._resolve(cursor)
        return suppressed

    def _resolve(self, cursor: Any) -> None:
        """Match the whole file to the organisation once, in one pass of hash joins: each row's company, the
        person with its email and (for a new email) the person with its LinkedIn URL. Rows that would change
        nothing are left out here, so a re-import applies nothing and no range joins the organisation's prospects
        again (which, range by range, grew with the organisation's size)."""
        rows = f"""
            (SELECT s.*, c.id AS company_id FROM {self.table} s
             LEFT JOIN prospects_company c ON c.org_id = %s AND c.domain = s.company_domain) AS s
        """  # noqa: S608
        cursor.execute("SELECT EXISTS (SELECT 1 FROM prospects_prospect WHERE org_id = %s)", [self.org_id])
        if not cursor.fetchone()[0]:
            # A first import into an empty organisation matches nobody: no probe of the prospect table per row.
            # Someone created meanwhile (a form, the API) is still found when the range is applied.
            matched, params = f"NULL::bigint AS existing_id, NULL::bigint AS linkedin_id FROM {rows}", []
        else:
            matched = f"""
                p.id AS existing_id, l.id AS linkedin_id FROM {rows}
                LEFT JOIN prospects_prospect p ON p.org_id = %s AND p.email_normalized = s.email_normalized
                LEFT JOIN LATERAL (
                    SELECT min(k.id) AS id FROM prospects_prospect k
                    WHERE p.id IS NULL AND s.email_normalized IS NOT NULL AND s.linkedin_normalized IS NOT NULL
                      AND k.org_id = %s AND k.linkedin_normalized = s.linkedin_normalized
                ) AS l ON true
                WHERE {self._keep()}
            """  # noqa: S608
            params = [self.org_id, self.org_id]
        cursor.execute(
            f"CREATE UNLOGGED TABLE {self.apply_table} WITH (autovacuum_enabled = false) AS SELECT s.*, {matched}",
            [self.org_id, *params],
        )
        cursor.execute(f"CREATE INDEX ON {self.apply_table} (seq)")
        cursor.execute(f"ANALYZE {self.apply_table} (seq)")

    def _keep(self) -> str:
        """Which rows matched by _resolve (prospect alias `p`, row alias `s`) are left to apply: new people, and with
        "update existing" the ones the row would change."""
        if not self.job.update_existing:
            return "p.id IS NULL"
        # The update's new values (_new_values) without its two correlated subqueries, which would keep the whole
        # check out of PostgreSQL's parallel workers: the merged tags differ from the stored (distinct) ones
        # exactly when the row brings a tag they lack; a company name taken from a newly linked company only comes
        # with a changed company_id, which keeps the row already.
        pairs = [
            (column, expression)
            for column, expression in _new_values("p", "s", custom="COALESCE(s.custom_fields, '{}'::jsonb)")
            if column not in ("tags", "company_name")
        ]
        pairs.append(("company_name", "COALESCE(NULLIF(s.company_name, ''), p.company_name)"))
        return (
            f"p.id IS NULL OR {_changed(pairs, 'p')} "
            "OR NOT (string_to_array(s.tags, chr(31)) <@ p.tags::text[])"
        )

    def write(self, cursor: Any, span: Span) -> Counts:
        counts = Counts(processed=span.seen, suppressed=span.suppressed)
        # Word and tag GIN entries go to the pending list and are merged in bulk, far cheaper than row by row;
        # losing the last range's commit in a crash is harmless because re-running an import is idempotent.
        cursor.execute("SET LOCAL gin_pending_list_limit = '64MB'; SET LOCAL synchronous_commit = off")
        cursor.execute(_STAGE_DDL)
        columns = ", ".join(STAGE_COLUMNS)
        cursor.execute(
            f"""
            INSERT INTO import_stage ({columns}, company_id, existing_id, linkedin_id)
            SELECT {columns}, company_id, existing_id, linkedin_id
            FROM {self.apply_table} WHERE seq >= %s AND seq < %s
            """,  # noqa: S608
            [span.first_seq, span.first_seq + span.seen],
        )
        self._match_linkedin_for_new_emails(cursor)
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
        counts.failed = span.failed + len(over_limits)
        # Rows folded into a later row of the same person, and rows that would change nothing, are unchanged.
        counts.unchanged = span.seen - counts.failed - counts.suppressed - counts.created - counts.updated
        self.errors = over_limits
        return counts

    def _drop_over_limits(self, cursor: Any, *, matched: str) -> list[tuple[int, str, str]]:
        """Rows that would give a person they update more tags or custom fields than a prospect may hold fail,
        as prospect_upsert refuses them (the row alone was checked when it was cleaned)."""
        if not self.job.update_existing:
            return []
        if matched == "email":
            join = "p.id = s.existing_id AND s.target_id IS NULL"
            candidates = "s.existing_id IS NOT NULL AND s.target_id IS NULL"
        else:
            join = "p.id = s.target_id"
            candidates = "s.target_id IS NOT NULL"
        if not _range_has(cursor, candidates):
            return []
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

    def _drop_suppressed(self, cursor: Any, *, chunk_rows: int) -> dict[int, int]:
        cursor.execute(
            "SELECT DISTINCT kind FROM prospects_suppression WHERE org_id = %s",
            [self.org_id],
        )
        kinds = {row[0] for row in cursor.fetchall()}
        if not kinds:
            return {}
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
        cursor.execute(
            f"""
            WITH gone AS (DELETE FROM {self.table} s WHERE {" OR ".join(conditions)} RETURNING s.seq)
            SELECT seq / %s, count(*) FROM gone GROUP BY 1
            """,  # noqa: S608
            [*params, chunk_rows],
        )
        return {int(span): int(n) for span, n in cursor.fetchall()}

    def _upsert_companies(self, cursor: Any) -> None:
        """One company per domain. Its name is the latest row's that has one and only fills a blank name; each company
        field takes the first value in the file (the last one with "update existing"), as prospect_upsert row by
        row would, and fills or replaces the stored one (see _company_value)."""
        extra = "".join(f", {c}" for c in self.company_default_columns)
        placeholders = "".join(", %s" for _ in self.company_default_values)
        overwrite = self.job.update_existing
        columns = list(COMPANY_FIELDS.values())
        # Each pick is the value of the row with the highest (lowest) line, found as the max (min) of the line,
        # zero-padded, followed by the value: an aggregate PostgreSQL hashes, where array_agg(... ORDER BY line)
        # sorted the whole file. A company field no column is mapped onto is NULL in every row.
        mapped = set(self.job.mapping.values())
        pick = "max" if overwrite else "min"
        picks = ", ".join(
            f"{_by_line(pick, name, cast='bigint' if name in COMPANY_NUMBER_FIELDS else '')} AS {column}"
            if name in mapped
            else f"NULL{'::bigint' if name in COMPANY_NUMBER_FIELDS else '::text'} AS {column}"
            for name, column in COMPANY_FIELDS.items()
        )
        # The latest row's name, a non-blank one before any blank one.
        latest_name = _by_line(
            "max", "left(company_name, 255)", rank="CASE WHEN company_name = '' THEN '0' ELSE '1' END"
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
                       {latest_name} AS name,
                       {picks}
                FROM {self.table} WHERE company_domain IS NOT NULL GROUP BY company_domain
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
        """A row whose email is new but whose LinkedIn URL we know updates that person (as prospect_upsert does).
        The person was found in _resolve; the email is checked again in case someone created it since."""
        cursor.execute(
            """
            UPDATE import_stage s SET target_id = s.linkedin_id
            WHERE s.linkedin_id IS NOT NULL AND s.existing_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM prospects_prospect e
                              WHERE e.org_id = %s AND e.email_normalized = s.email_normalized)
            """,
            [self.org_id],
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
                (org_id, source, source_detail, created_at, updated_at, import_job_id, import_line,
                 {", ".join(_INSERT_FIELDS)}{extra})
            SELECT %s, %s, %s, now(), now(), %s, s.line,
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
            self.job.pk,
            TAG_SEPARATOR,
            *self.default_values,
        ]
        return sql, params

    def _upsert_by_email(self, cursor: Any) -> tuple[int, int]:
        insert, params = self._insert_select("s.email_normalized IS NOT NULL AND s.target_id IS NULL")
        if self.job.update_existing:
            pairs = _new_values("p", "EXCLUDED")
            sets = ", ".join(f"{c} = {expr}" for c, expr in pairs)
            conflict = (
                f"DO UPDATE SET {sets}, updated_at = now(), last_import_job_id = EXCLUDED.import_job_id, "
                f"last_import_line = EXCLUDED.import_line WHERE {_changed(pairs, 'p')}"
            )
        else:
            conflict = "DO NOTHING"
        cursor.execute(
            f"""
            WITH up AS (
                {insert}
                ON CONFLICT (org_id, email_normalized) WHERE email_normalized IS NOT NULL {conflict}
                RETURNING (p.xmax = 0) AS created
            )
            SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up
            """,  # noqa: S608
            params,
        )
        created, updated = cursor.fetchone()
        return int(created), int(updated)

    def _update_matched(self, cursor: Any) -> int:
        if not self.job.update_existing or not _range_has(cursor, "s.target_id IS NOT NULL"):
            return 0
        pairs = _new_values("p", "s")
        sets = ", ".join(f"{c} = {expr}" for c, expr in pairs)
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
                UPDATE prospects_prospect p
                SET {sets}, updated_at = now(), last_import_job_id = %s, last_import_line = s.line
                FROM incoming s
                WHERE p.id = s.target_id AND p.org_id = %s AND {_changed(pairs, "p")}
                RETURNING p.id
            )
            SELECT count(*) FROM up
            """,  # noqa: S608
            [TAG_SEPARATOR, self.job.pk, self.org_id],
        )
        return int(cursor.fetchone()[0])

    def _insert_without_email(self, cursor: Any) -> int:
        insert, params = self._insert_select("s.email_normalized IS NULL AND s.target_id IS NULL")
        cursor.execute(insert, params)
        return int(cursor.rowcount)


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


def import_parsers() -> int:
    """How many processes clean a large file's rows: IMPORT_PARSERS, by default one per CPU of this host. With
    one, a thread of this process cleans while this one COPYs."""
    return _per_cpu("IMPORT_PARSERS")


def _cleaned_chunks(
    job: Import, cleaner: RowCleaner, *, chunk_rows: int, parsers: int, blocks: bool
) -> Iterator[Chunk]:
    """The file's chunks, cleaned by `parsers` forked processes when the file holds more than one chunk. With
    `blocks` the parent only cuts the file into blocks of bytes (`imports.blocks`) and the workers parse them
    too; else a thread of this process reads the records and hands them out."""
    if parsers <= 1 or (job.total_rows or 0) <= chunk_rows:
        return _prefetch(iter_chunks(job, cleaner, chunk_rows))
    if blocks and splittable(job.encoding):
        return _block_chunks(job, cleaner, chunk_rows=chunk_rows, parsers=parsers)

    def clean(batch: tuple[int, list[tuple[Any, ...]]]) -> Chunk:
        return clean_batch(cleaner, *batch)

    return forkmap(clean, raw_batches(job, chunk_rows), processes=parsers)


def _block_chunks(job: Import, cleaner: RowCleaner, *, chunk_rows: int, parsers: int) -> Iterator[Chunk]:
    """Block k holds at most chunk_rows records and numbers them from k * chunk_rows, so its span is the range
    the suppressed counts and the writers expect, whatever the others hold."""
    encoding, delimiter = job.encoding, job.delimiter

    def clean(block: Block) -> Chunk:
        raws = block_records(block, encoding=encoding, delimiter=delimiter, max_records=chunk_rows)
        return clean_batch(cleaner, block.number * chunk_rows, raws)

    with default_storage.open(job.file_path, "rb") as stream:
        # A block of chunk_rows - 1 newlines holds at most chunk_rows records, its last line unterminated.
        yield from forkmap(
            clean, split_blocks(stream, encoding=encoding, lines=chunk_rows - 1), processes=parsers
        )


def _load(job: Import, cleaner: RowCleaner, *, table: str, chunk_rows: int, parsers: int) -> list[Span]:
    """Pass 1: parse the file into the job's staging table (a chunk per transaction, with its bad rows)."""
    with connection.cursor() as cursor:
        cursor.execute(_JOB_STAGE_DDL.format(table=table))
    try:
        return _copy_chunks(
            job, table, _cleaned_chunks(job, cleaner, chunk_rows=chunk_rows, parsers=parsers, blocks=True)
        )
    except Unsplittable as exc:
        log.info("import %s: %s; reading the file with one reader", job.pk, exc)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")
    ImportRowError.objects.filter(org_id=job.org_id, job_id=job.pk).delete()
    return _copy_chunks(
        job, table, _cleaned_chunks(job, cleaner, chunk_rows=chunk_rows, parsers=parsers, blocks=False)
    )


def _copy_chunks(job: Import, table: str, chunks: Iterator[Chunk]) -> list[Span]:
    columns = ", ".join(_JOB_STAGE_COLUMNS)
    spans = []
    for chunk in chunks:
        with transaction.atomic(), connection.cursor() as cursor:
            if chunk.copy_data:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(chunk.copy_data)
            _record_errors(job, chunk.errors)
        spans.append(Span(first_seq=chunk.first_seq, seen=chunk.seen, failed=len(chunk.errors)))
    return spans


def _fold_people(cursor: Any, table: str) -> None:
    """Pass 2: the rows of one person anywhere in the file become one row, as merge_rows folds them within a
    chunk: the later row wins and keeps its place, the earlier ones only fill blanks. Only repeated people are
    read back, through a server-side cursor, so memory stays bounded whatever the file. They are found by a
    64-bit hash of their key (grouping a million of those is twice as fast as the keys themselves); a collision
    only reads back a person who is alone, and the fold below compares the keys themselves."""
    columns = ", ".join(f"{c}::text" for c in _JOB_STAGE_COLUMNS)
    repeated = cursor.cursor.connection.cursor(name=f"{table}_fold")
    repeated.itersize = FOLD_BATCH
    repeated.execute(
        f"""
        SELECT {columns} FROM {table}
        WHERE hashtextextended(person, 0) IN (
            SELECT hashtextextended(person, 0) FROM {table} GROUP BY 1 HAVING count(*) > 1
        )
        ORDER BY person, {table}.seq  -- the integer column, not the text one selected under its name
        """  # noqa: S608
    )
    people: list[str] = []
    folded: list[tuple[Any, ...]] = []
    current: tuple[Any, ...] | None = None
    for row in repeated:
        if current is not None and current[1] == row[1]:
            current = (row[0], row[1], *merge_rows(current[2:], row[2:]))
            continue
        if current is not None:
            people.append(current[1])
            folded.append(current)
            if len(folded) >= FOLD_BATCH:
                _replace_people(cursor, table, people, folded)
                people, folded = [], []
        current = row
    repeated.close()
    if current is not None:
        people.append(current[1])
        folded.append(current)
    _replace_people(cursor, table, people, folded)


def _replace_people(cursor: Any, table: str, people: list[str], folded: list[tuple[Any, ...]]) -> None:
    if not people:
        return
    cursor.execute(f"DELETE FROM {table} WHERE person = ANY(%s)", [people])  # noqa: S608
    with cursor.cursor.copy(f"COPY {table} ({', '.join(_JOB_STAGE_COLUMNS)}) FROM STDIN") as copy:
        copy.write(_copy_bytes(folded))


def _drop_job_stage(*tables: str) -> None:
    with contextlib.suppress(OperationalError, InterfaceError), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {', '.join(tables)}")


def import_execute(
    *, job: Import, chunk_rows: int = CHUNK_ROWS, writers: int | None = None, parsers: int | None = None
) -> Counts:
    """Run a claimed (running) job to the end. Rows that fail are recorded; the file as a whole fails only when
    it cannot be read at all."""
    totals = Counts()
    with org_scope(job.org_id):
        job.total_rows = _count_lines(job)
        Import.objects.filter(pk=job.pk).update(total_rows=job.total_rows)
        cleaner = RowCleaner(job.headers, job.mapping, job.tags)
        writer = _ChunkWriter(job)
        timings = writer.timings
        try:
            with _timed(timings, "load"):
                spans = _load(
                    job,
                    cleaner,
                    table=writer.table,
                    chunk_rows=chunk_rows,
                    parsers=parsers or import_parsers(),
                )
            with transaction.atomic(), connection.cursor() as cursor:
                suppressed = writer.prepare(cursor, chunk_rows=chunk_rows)
            spans = [
                Span(span.first_seq, span.seen, span.failed, suppressed.get(span.first_seq // chunk_rows, 0))
                for span in spans
            ]
            with _timed(timings, "apply"):
                _apply(
                    job,
                    spans,
                    totals=totals,
                    writers=1 if connection.in_atomic_block else writers or import_writers(),
                )
        except (OperationalError, InterfaceError):
            raise  # the task retries these
        except (ImportFileError, UnicodeError, OSError, ValueError) as exc:
            Import.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
            )
            return totals
        finally:
            _drop_job_stage(writer.table, writer.apply_table)
        Import.objects.filter(pk=job.pk).update(
            status=ImportStatus.DONE, total_rows=totals.processed, finished_at=timezone.now()
        )
    log.info(
        "import %s: %s rows (%s created, %s updated, %s unchanged, %s failed); seconds: %s",
        job.pk,
        totals.processed,
        totals.created,
        totals.updated,
        totals.unchanged,
        totals.failed,
        ", ".join(f"{step} {seconds:.2f}" for step, seconds in timings.items()),
    )
    return totals


_COUNTED = ("created", "created_without_email", "updated", "unchanged", "suppressed", "failed", "processed")


def _apply(job: Import, spans: list[Span], *, totals: Counts, writers: int) -> None:
    """Pass 3: apply the ranges, `writers` at once, each writer a thread with its own database connection. One
    writer runs in the caller's thread and transaction (what tests and a single-core host get)."""
    lock = threading.Lock()

    def add(counts: Counts) -> None:
        with lock:
            for name in _COUNTED:
                setattr(totals, name, getattr(totals, name) + getattr(counts, name))

    if writers <= 1 or len(spans) <= 1:
        writer = _ChunkWriter(job)
        for span in spans:
            add(_write_chunk(job, writer, span))
        return
    work: queue.SimpleQueue[Span] = queue.SimpleQueue()
    for span in spans:
        work.put(span)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with org_scope(job.org_id):
                writer = _ChunkWriter(job)
                while not failures:
                    try:
                        span = work.get_nowait()
                    except queue.Empty:
                        return
                    add(_write_chunk(job, writer, span))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, name=f"csv-import-writer-{n}", daemon=True)
        for n in range(min(writers, len(spans)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def _retryable(exc: Exception) -> bool:
    """A unique-key race with another writer (API, form, a second import) or a deadlock between this import's
    writers (two ranges updating the same people matched by LinkedIn URL): running the range again resolves it."""
    return isinstance(exc, IntegrityError) or isinstance(
        exc.__cause__, psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
    )


def _write_chunk(job: Import, writer: _ChunkWriter, span: Span) -> Counts:
    for attempt in range(3):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                counts = writer.write(cursor, span)
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
        except (IntegrityError, OperationalError) as exc:
            if attempt == 2 or not _retryable(exc):
                raise
            log.warning("import %s: %s, retrying rows from %s", job.pk, type(exc).__name__, span.first_seq)
    raise AssertionError("unreachable")
