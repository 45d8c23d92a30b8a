"""CSV import: format detection, column mapping, preview and the streaming, set-based import engine.

The engine never holds the file in memory. A parser thread reads the file through a text wrapper, cleans rows in
Python and hands chunks (already formatted for COPY) to the main thread through a small bounded queue; the main
thread COPYs each chunk into a temporary staging table and applies it with a handful of set-based statements
(companies upsert, INSERT ... ON CONFLICT on the email key, LinkedIn/name matching for rows without email,
one timeline row per created or updated prospect). Parsing (Python, one core) and the SQL (the Postgres backend,
another core) overlap. Each chunk is its own transaction, and the job's counters move with it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, InterfaceError, OperationalError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Organization, User
from leadgen.csvsafe import csv_safe
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope
from prospects import normalize
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
from prospects.scoring.intake import pipeline_on_import_done

log = logging.getLogger(__name__)

SAMPLE_BYTES = 64 * 1024
PREVIEW_ROWS = 20
CHUNK_ROWS = 20_000
# A cell larger than any sensible value still parses, so its row fails with a reason instead of the reader.
CSV_FIELD_LIMIT = 32 * 1024 * 1024
CUSTOM_VALUE_LIMIT = 2_000
CUSTOM_KEY_LIMIT = 100
RAW_CELL_LIMIT = 500
RAW_CELLS_LIMIT = 60
DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
TAG_SEPARATOR = "\x1f"

csv.field_size_limit(CSV_FIELD_LIMIT)

# Fields a column can be mapped onto; "custom:<header>" keeps a column in custom_fields, "ignore" drops it.
FIELD_TARGETS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "title": "Job title",
    "seniority": "Seniority",
    "department": "Department",
    "phone": "Phone",
    "linkedin_url": "LinkedIn URL",
    "location": "Location (several columns are joined)",
    "timezone": "Time zone",
    "company_name": "Company name",
    "company_domain": "Company domain or website",
    "tags": "Tags (comma separated)",
}
IGNORE = "ignore"
CUSTOM_PREFIX = "custom:"
IDENTITY_TARGETS = frozenset({"email", "linkedin_url", "first_name", "last_name", "full_name"})

# Header spellings of real exports (Apollo, HubSpot, LinkedIn Sales Navigator, Salesforce) and generic English
# names, compared lower-cased with everything but letters and digits removed.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "emailaddress",
        "mail",
        "workemail",
        "businessemail",
        "primaryemail",
        "contactemail",
        "emailid",
        "professionalemail",
    ),
    "first_name": ("firstname", "first", "givenname", "fname", "forename"),
    "last_name": ("lastname", "last", "surname", "familyname", "lname"),
    "full_name": ("name", "fullname", "contactname", "contact", "personname", "leadname", "prospectname"),
    "title": ("title", "jobtitle", "position", "role", "jobrole", "designation", "currenttitle", "headline"),
    "seniority": ("seniority", "senioritylevel", "level"),
    "department": ("department", "departments", "function", "jobfunction"),
    "phone": (
        "phone",
        "phonenumber",
        "mobilephone",
        "mobile",
        "mobilephonenumber",
        "corporatephone",
        "workphone",
        "directphone",
        "telephone",
        "tel",
        "cellphone",
        "workdirectphone",
        "otherphone",
        "homephone",
    ),
    "linkedin_url": (
        "linkedin",
        "linkedinurl",
        "personlinkedinurl",
        "linkedinprofile",
        "linkedinprofileurl",
        "profileurl",
        "linkedinprofilelink",
        "personlinkedin",
    ),
    "location": (
        "location",
        "city",
        "state",
        "country",
        "region",
        "stateregion",
        "countryregion",
        "geography",
        "personlocation",
        "province",
    ),
    "timezone": ("timezone", "tz"),
    "company_name": (
        "company",
        "companyname",
        "organization",
        "organisation",
        "organizationname",
        "account",
        "accountname",
        "employer",
        "currentcompany",
    ),
    "company_domain": (
        "companydomain",
        "domain",
        "website",
        "websiteurl",
        "companywebsite",
        "companyurl",
        "companydomainname",
        "homepage",
        "web",
    ),
    "tags": ("tags", "tag", "labels", "label"),
}
_HEADER_TO_TARGET = {alias: target for target, aliases in _SYNONYMS.items() for alias in aliases}
# Several columns may feed these; all others take the first non-empty mapped column.
_JOINED_TARGETS = {"location": ", ", "tags": ","}

_FIELD_LIMITS: dict[str, int] = {
    f.name: int(f.max_length or 0) for f in Prospect._meta.concrete_fields if getattr(f, "max_length", None)
}


class ImportFileError(ValueError):
    """The file cannot be imported at all (empty, binary, no header); the message is shown to the user."""


# --- format detection ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileFormat:
    encoding: str
    delimiter: str


def detect_encoding(stream: IO[bytes]) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, else Windows-1252 (a superset of Latin-1
    for text). Reads the file once in blocks, never all of it at once."""
    head = stream.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise ImportFileError("This is not a text file (Excel workbook?). Save it as CSV and upload that.")
    decoder = codecs.getincrementaldecoder("utf-8")()
    block = head
    try:
        while block:
            decoder.decode(block, final=False)
            block = stream.read(1024 * 1024)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def detect_delimiter(sample: str) -> str:
    """csv.Sniffer restricted to comma, semicolon, tab and pipe; else the candidate most frequent in the header."""
    complete = sample[: sample.rfind("\n")] if "\n" in sample else sample
    try:
        found = csv.Sniffer().sniff(complete, delimiters=DELIMITERS).delimiter
        if found in DELIMITERS:
            return found
    except csv.Error:
        pass
    header = complete.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_text(stream: IO[bytes], encoding: str) -> io.TextIOWrapper:
    # newline="" lets the csv module see embedded newlines and count physical lines itself.
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")


def detect_format(stream: IO[bytes]) -> FileFormat:
    encoding = detect_encoding(stream)
    stream.seek(0)
    text = open_text(stream, encoding)
    try:
        sample = text.read(SAMPLE_BYTES)
    finally:
        text.detach()
    stream.seek(0)
    if not sample.strip():
        raise ImportFileError("The file is empty.")
    return FileFormat(encoding=encoding, delimiter=detect_delimiter(sample))


def unique_headers(raw: list[str]) -> list[str]:
    """Trimmed header names, blank ones named by position, repeats suffixed so each maps separately."""
    seen: dict[str, int] = {}
    headers = []
    for index, name in enumerate(raw, start=1):
        name = name.strip().lstrip("\ufeff").strip()[:CUSTOM_KEY_LIMIT] or f"Column {index}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        headers.append(name)
    return headers


def _header_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Each header onto a prospect field when its name is a known spelling, else kept as a custom field."""
    mapping: dict[str, str] = {}
    for header in headers:
        target = _HEADER_TO_TARGET.get(_header_key(header))
        mapping[header] = target or f"{CUSTOM_PREFIX}{header}"
    return mapping


def mapping_errors(headers: list[str], mapping: dict[str, str]) -> list[str]:
    errors = []
    for header in headers:
        target = mapping.get(header, IGNORE)
        if target == IGNORE or target in FIELD_TARGETS:
            continue
        key = target[len(CUSTOM_PREFIX) :] if target.startswith(CUSTOM_PREFIX) else ""
        if not key.strip() or len(key) > CUSTOM_KEY_LIMIT:
            errors.append(f"Column “{header}”: choose a field, a custom field or “ignore”.")
    if not IDENTITY_TARGETS & {mapping.get(h) for h in headers}:
        errors.append(
            "Map at least one column to Email, LinkedIn URL or a name: without one, rows cannot be identified."
        )
    return errors


# --- reading rows ----------------------------------------------------------------------------------------------


@dataclass
class RawRow:
    line: int
    cells: list[str] | None  # None when the csv reader could not parse the record
    error: str = ""


def read_rows(text: Iterable[str], delimiter: str) -> tuple[list[str], Iterator[RawRow]]:
    """Header and an iterator of rows, each with the physical line where its record starts."""
    reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The header row cannot be read: {exc}.") from None
    if not any(cell.strip() for cell in header):
        raise ImportFileError("The first row must hold column names, but it is blank.")

    def rows() -> Iterator[RawRow]:
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RawRow(start, None, f"unreadable CSV record: {exc}")
                start = reader.line_num + 1
                continue
            line, start = start, reader.line_num + 1
            if cells and any(cells):
                yield RawRow(line, cells)

    return header, rows()


# --- cleaning one row ---------------------------------------------------------------------------------------------

# Order of the staging table's columns, as produced by RowCleaner.clean().
STAGE_COLUMNS = (
    "line",
    "email",
    "email_normalized",
    "email_domain",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "department",
    "phone",
    "linkedin_url",
    "linkedin_normalized",
    "location",
    "timezone",
    "company_name",
    "company_domain",
    "tags",
    "custom_fields",
)
_I = {name: i for i, name in enumerate(STAGE_COLUMNS)}
_TEXT_TARGETS = (
    "first_name",
    "last_name",
    "title",
    "seniority",
    "department",
    "phone",
    "location",
    "timezone",
)


def split_full_name(value: str) -> tuple[str, str]:
    """'Ada Lovelace' → ('Ada', 'Lovelace'); 'Lovelace, Ada' → ('Ada', 'Lovelace'); 'Ludwig van Beethoven' keeps
    the particle with the last name."""
    value = " ".join(value.split())
    if "," in value:
        last, _, first = value.partition(",")
        return first.strip(), last.strip()
    first, _, last = value.partition(" ")
    return first, last


class RowError(ValueError):
    pass


_SIMPLE_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SIMPLE_WEBSITE = re.compile(r"(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+[a-z0-9-]+)\.?(?:[/?#][^@]*)?")


def _email(value: str) -> str | None:
    """normalize.email with a fast path for the plain addresses that make up nearly every file."""
    lowered = value.lower()
    if len(lowered) <= 254 and _SIMPLE_EMAIL.fullmatch(lowered):
        return lowered
    return normalize.email(value)


def _domain(value: str) -> str | None:
    """normalize.domain with a fast path for plain 'https://www.acme.com/' style values."""
    match = _SIMPLE_WEBSITE.fullmatch(value.lower())
    return match.group(1) if match else normalize.domain(value)


class RowCleaner:
    """Turns a row of cells into a staging tuple of str/None (see STAGE_COLUMNS), or raises RowError.

    This runs once per row of million-row files, so the mapping is compiled into a flat plan up front.
    """

    def __init__(self, headers: list[str], mapping: dict[str, str], tags: Iterable[str] = ()) -> None:
        self.headers = headers
        self.width = len(headers)
        columns: dict[str, list[int]] = {}
        self.custom: list[tuple[str, int]] = []
        for index, header in enumerate(headers):
            target = mapping.get(header, IGNORE)
            if target in FIELD_TARGETS:
                columns.setdefault(target, []).append(index)
            elif target.startswith(CUSTOM_PREFIX):
                self.custom.append((target[len(CUSTOM_PREFIX) :][:CUSTOM_KEY_LIMIT], index))
        self.plan = [
            (target, tuple(indexes), _JOINED_TARGETS.get(target), _FIELD_LIMITS.get(target, 0))
            for target, indexes in columns.items()
        ]
        self.blank = dict.fromkeys(FIELD_TARGETS, "")
        self.extra_tags = normalize.tags(list(tags))

    def clean(self, cells: list[str]) -> tuple[str | None, ...]:
        if len(cells) != self.width:
            raise RowError(f"has {len(cells)} columns, the header has {self.width}")
        v = self.blank.copy()
        for target, indexes, joiner, limit in self.plan:
            if len(indexes) == 1:
                value = cells[indexes[0]].strip()
            elif joiner:
                value = joiner.join([x for x in (cells[i].strip() for i in indexes) if x])
            else:
                value = next((x for x in (cells[i].strip() for i in indexes) if x), "")
            if limit and len(value) > limit:
                raise RowError(f"{FIELD_TARGETS[target]} is {len(value):,} characters long (limit {limit:,})")
            v[target] = value
        email = v["email"]
        email_normalized = None
        if email:
            try:
                email_normalized = _email(email)
            except ValidationError:
                raise RowError(f"invalid email {email[:80]!r}") from None
        if v["full_name"] and not (v["first_name"] or v["last_name"]):
            first, last = split_full_name(v["full_name"])
            for target, value in (("first_name", first), ("last_name", last)):
                if len(value) > _FIELD_LIMITS[target]:
                    raise RowError(f"{FIELD_TARGETS[target]} is {len(value):,} characters long")
            v["first_name"], v["last_name"] = first, last
        linkedin_normalized = normalize.linkedin(v["linkedin_url"]) if v["linkedin_url"] else None
        if not (email_normalized or linkedin_normalized or v["first_name"] or v["last_name"]):
            raise RowError("no email, LinkedIn URL or name to identify the person")
        email_domain = email_normalized.rsplit("@", 1)[1] if email_normalized else None
        company_domain = _domain(v["company_domain"]) if v["company_domain"] else None
        if not company_domain and email_domain and email_domain not in normalize.FREE_MAIL_DOMAINS:
            company_domain = email_domain
        if company_domain and len(company_domain) > _FIELD_LIMITS["company_domain"]:
            raise RowError("Company domain is too long")
        tags = normalize.tags(v["tags"]) if v["tags"] else []
        if self.extra_tags:
            tags = list(dict.fromkeys([*tags, *self.extra_tags]))
        custom = None
        if self.custom:
            found = {}
            for key, index in self.custom:
                value = cells[index].strip()
                if value:
                    if len(value) > CUSTOM_VALUE_LIMIT:
                        raise RowError(
                            f"column “{key}” is {len(value):,} characters long (limit {CUSTOM_VALUE_LIMIT:,})"
                        )
                    found[key] = value
            custom = json.dumps(found, ensure_ascii=False) if found else None
        return (
            "0",
            email,
            email_normalized,
            email_domain,
            v["first_name"],
            v["last_name"],
            v["title"],
            v["seniority"],
            v["department"],
            v["phone"],
            v["linkedin_url"],
            linkedin_normalized,
            v["location"],
            v["timezone"],
            v["company_name"],
            company_domain,
            TAG_SEPARATOR.join(t.replace(TAG_SEPARATOR, " ") for t in tags) if tags else "",
            custom,
        )


def dedupe_key(row: tuple[Any, ...]) -> tuple[str, ...]:
    """Rows of one chunk with the same key are one person: email, else LinkedIn URL, else name at company."""
    if row[_I["email_normalized"]]:
        return ("e", row[_I["email_normalized"]])
    if row[_I["linkedin_normalized"]]:
        return ("l", row[_I["linkedin_normalized"]])
    return ("n", row[_I["first_name"]], row[_I["last_name"]], row[_I["company_name"]].lower())


def merge_rows(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    """The later row wins; the earlier one only fills what the later one leaves blank."""
    merged = [new if new not in ("", None) else old for old, new in zip(earlier, later, strict=True)]
    tags_i, custom_i = _I["tags"], _I["custom_fields"]
    if earlier[tags_i] and later[tags_i]:
        tags = dict.fromkeys([*earlier[tags_i].split(TAG_SEPARATOR), *later[tags_i].split(TAG_SEPARATOR)])
        merged[tags_i] = TAG_SEPARATOR.join(tags)
    if earlier[custom_i] and later[custom_i]:
        merged[custom_i] = json.dumps({**json.loads(earlier[custom_i]), **json.loads(later[custom_i])})
    return tuple(merged)


def raw_cells(cells: list[str] | None) -> str:
    """What an error row keeps of the original: bounded, so a 5 MB cell is not stored again."""
    if cells is None:
        return "[]"
    return json.dumps([c[:RAW_CELL_LIMIT] for c in cells[:RAW_CELLS_LIMIT]], ensure_ascii=False)


# --- preview ----------------------------------------------------------------------------------------------------


@dataclass
class PreviewRow:
    line: int
    values: dict[str, Any]
    problem: str


def preview(
    job: Import, mapping: dict[str, str] | None = None, limit: int = PREVIEW_ROWS
) -> list[PreviewRow]:
    """The first rows as the import will see them, each with the reason it would fail (or '')."""
    cleaner = RowCleaner(job.headers, mapping if mapping is not None else job.mapping, job.tags)
    rows: list[PreviewRow] = []
    with default_storage.open(job.file_path, "rb") as stream:
        text = open_text(stream, job.encoding)
        _, raw_rows = read_rows(text, job.delimiter)
        for raw in raw_rows:
            values: dict[str, Any] = {}
            problem = raw.error
            if raw.cells is not None:
                try:
                    cleaned = cleaner.clean(raw.cells)
                except RowError as exc:
                    problem = str(exc)
                    values = dict(zip(job.headers, (c[:200] for c in raw.cells), strict=False))
                else:
                    values = {name: cleaned[_I[name]] for name in STAGE_COLUMNS[1:]}
                    values["custom_fields"] = json.loads(values["custom_fields"] or "{}")
                    values["tags"] = ", ".join(t for t in (values["tags"] or "").split(TAG_SEPARATOR) if t)
            rows.append(PreviewRow(raw.line, values, problem))
            if len(rows) >= limit:
                break
        text.detach()
    return rows


# --- upload and start (the service side of an import) ------------------------------------------------------------


def import_create(*, org: Organization, user: User | None, upload: File, name: str) -> Import:
    """Store an uploaded file, detect its format and headers, and suggest a mapping."""
    storage_name = default_storage.save(f"imports/{org.pk}/{uuid.uuid4().hex}.csv", upload)
    try:
        with default_storage.open(storage_name, "rb") as stream:
            file_format = detect_format(stream)
            text = open_text(stream, file_format.encoding)
            raw_header, rows = read_rows(text, file_format.delimiter)
            if next(rows, None) is None:
                raise ImportFileError("The file has a header row but no data rows.")
            text.detach()
    except ImportFileError:
        default_storage.delete(storage_name)
        raise
    headers = unique_headers(raw_header)
    with org_scope(org):
        return Import.objects.create(
            org=org,
            original_name=name[:255],
            file_path=storage_name,
            file_size=default_storage.size(storage_name),
            encoding=file_format.encoding,
            delimiter=file_format.delimiter,
            headers=headers,
            mapping=suggest_mapping(headers),
            created_by=user,
        )


def import_start(
    *, job: Import, mapping: dict[str, str], update_existing: bool, tags: list[str] | str = ""
) -> Import:
    """Save the mapping and options and queue the job (once: a second start of the same job is refused)."""
    errors = mapping_errors(job.headers, mapping)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        claimed = Import.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
            mapping={h: mapping.get(h, IGNORE) for h in job.headers},
            update_existing=update_existing,
            tags=normalize.tags(tags),
            status=ImportStatus.QUEUED,
        )
        if not claimed:
            raise ValidationError("This import has already been started.")
        task_send_on_commit("prospects.imports.tasks.import_run_task", job.org_id, job.pk)
    job.refresh_from_db()
    return job


# --- the engine ---------------------------------------------------------------------------------------------------


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
        tags text NOT NULL, custom_fields jsonb, target_id bigint, company_id bigint
    ) ON COMMIT DROP
"""
# Plain text fields: a non-empty incoming value replaces the stored one, an empty one never blanks it.
_UPDATE_TEXT = (
    "first_name",
    "last_name",
    "email",
    "title",
    "seniority",
    "department",
    "phone",
    "linkedin_url",
    "location",
    "timezone",
    "company_name",
)
_UPDATE_NULLABLE = ("email_normalized", "linkedin_normalized", "company_id")
_INSERT_FIELDS = (
    *_UPDATE_TEXT,
    "email_normalized",
    "linkedin_normalized",
    "company_domain",
    "tags",
    "custom_fields",
    "company_id",
)


def _new_values(p: str, s: str, *, tags: str = "", custom: str = "") -> list[tuple[str, str]]:
    """(column, expression of its new value) for an update of prospect alias `p` from incoming alias `s`."""
    tags = tags or f"{s}.tags"
    custom = custom or f"{s}.custom_fields"
    pairs = [(c, f"COALESCE(NULLIF({s}.{c}, ''), {p}.{c})") for c in _UPDATE_TEXT]
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
        label = job.original_name[:200]
        self.summary_created = f"Imported from {label}"[:500]
        self.summary_updated = f"Updated by import of {label}"[:500]
        provided = {"org_id", "source", "source_detail", "created_at", "updated_at", *_INSERT_FIELDS}
        self.default_columns, self.default_values = _defaults(Prospect, provided)
        self.company_default_columns, self.company_default_values = _defaults(
            Company, {"org_id", "name", "domain", "created_at", "updated_at"}
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
        counts = Counts(processed=chunk.seen, failed=len(chunk.errors), unchanged=chunk.merged)
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
        created, updated = self._upsert_by_email(cursor)
        counts.created += created
        counts.updated += updated
        self._match_without_email(cursor)
        counts.updated += self._update_matched(cursor)
        counts.created += self._insert_without_email(cursor)
        counts.unchanged += staged - counts.suppressed - counts.created - counts.updated
        return counts

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
        extra = "".join(f", {c}" for c in self.company_default_columns)
        placeholders = "".join(", %s" for _ in self.company_default_values)
        cursor.execute(
            f"""
            INSERT INTO prospects_company AS c (org_id, name, domain, created_at, updated_at{extra})
            SELECT DISTINCT ON (company_domain) %s, left(company_name, 255), company_domain, now(), now()
                   {placeholders}
            FROM import_stage WHERE company_domain IS NOT NULL
            ORDER BY company_domain, (company_name = ''), line DESC
            ON CONFLICT (org_id, domain) WHERE domain IS NOT NULL
            DO UPDATE SET name = EXCLUDED.name, updated_at = now()
            WHERE c.name = '' AND EXCLUDED.name <> ''
            """,  # noqa: S608
            [self.org_id, *self.company_default_values],
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
                   string_to_array(s.tags, %s), COALESCE(s.custom_fields, '{{}}'::jsonb), s.company_id{placeholders}
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


def import_claim(*, import_id: int) -> Import | None:
    """Move a queued job to running; None when it is gone or another worker already has it."""
    claimed = Import.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING,
        started_at=timezone.now(),
        finished_at=None,
        error="",
        processed_rows=0,
        created_count=0,
        updated_count=0,
        unchanged_count=0,
        suppressed_count=0,
        failed_count=0,
    )
    if not claimed:
        return None
    ImportRowError.objects.filter(job_id=import_id).delete()
    return Import.objects.get(pk=import_id)


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
                for name in ("created", "updated", "unchanged", "suppressed", "failed", "processed"):
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
                _record_errors(job, chunk.errors)
                Import.objects.filter(pk=job.pk).update(
                    processed_rows=F("processed_rows") + counts.processed,
                    created_count=F("created_count") + counts.created,
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


def import_run(*, org_id: int, import_id: int) -> Import | None:
    """Claim and run a queued import (what the Celery task calls). Safe to call twice: the second call finds the
    job no longer queued and returns None."""
    with org_scope(org_id):
        job = import_claim(import_id=import_id)
        if job is None:
            return None
        try:
            import_execute(job=job)
        except (OperationalError, InterfaceError):
            with contextlib.suppress(Exception):
                Import.objects.filter(pk=job.pk, status=ImportStatus.RUNNING).update(
                    status=ImportStatus.QUEUED
                )
            raise
        except Exception as exc:
            log.exception("import %s failed", import_id)
            Import.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED,
                error=f"The import stopped on an unexpected error ({type(exc).__name__}).",
                finished_at=timezone.now(),
            )
        job.refresh_from_db()
        pipeline_on_import_done(job=job)
        return job


# --- CSV export of failed rows ----------------------------------------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def failed_rows_csv(job: Import) -> Iterator[str]:
    """line, reason and the row's original cells (bounded), formula-escaped, streamed."""
    writer = csv.writer(_Echo())
    yield writer.writerow(["line", "reason", *job.headers])
    # Streamed after the view returned, when the request's org scope is gone: filter by the job's org explicitly.
    errors = (
        ImportRowError.objects.unscoped()
        .filter(org_id=job.org_id, job_id=job.pk)
        .order_by("line")
        .values_list("line", "reason", "raw")
    )
    for line, reason, raw in errors.iterator(chunk_size=2000):
        try:
            cells = json.loads(raw) if raw else []
        except ValueError:
            cells = [raw]
        yield writer.writerow([line, csv_safe(reason), *(csv_safe(c) for c in cells)])


def sample_values(job: Import, rows: int = 3) -> list[list[str]]:
    """Per column, the first few non-empty values (shortened), to help the user map it."""
    samples: list[list[str]] = [[] for _ in job.headers]
    with default_storage.open(job.file_path, "rb") as stream:
        text = open_text(stream, job.encoding)
        _, raw_rows = read_rows(text, job.delimiter)
        for seen, raw in enumerate(raw_rows):
            for index, cell in enumerate((raw.cells or [])[: len(samples)]):
                if cell.strip() and len(samples[index]) < rows:
                    samples[index].append(cell.strip()[:60])
            if seen >= 50 or all(len(s) >= rows for s in samples):
                break
        text.detach()
    return samples
