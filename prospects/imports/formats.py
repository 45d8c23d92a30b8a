"""What a CSV file is before any row is cleaned: its encoding and dialect, its header row and the column mapping.

Header names are matched to prospect fields through `prospects.fields` (the vocabulary the API and the inbound
webhooks use too), including the looser spellings of real exports, since the user reviews the suggestion.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from prospects.fields import COMPANY_FIELD_LABELS, CUSTOM_KEY_LIMIT, FULL_NAME, field_for_alias

SAMPLE_BYTES = 64 * 1024
# A cell larger than any sensible value still parses, so its row fails with a reason instead of the reader.
CSV_FIELD_LIMIT = 32 * 1024 * 1024
HEADER_LIMIT = 100
DELIMITERS = ",;\t|"
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}

csv.field_size_limit(CSV_FIELD_LIMIT)

# Fields a column can be mapped onto; "custom:<header>" keeps a column in custom_fields, "ignore" drops it.
FIELD_TARGETS: dict[str, str] = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    FULL_NAME: "Full name (split into first and last)",
    "title": "Job title",
    "seniority": "Seniority",
    "department": "Department",
    "phone": "Phone",
    "linkedin_url": "LinkedIn URL",
    "location": "Location (several columns are joined)",
    "timezone": "Time zone (e.g. Europe/Berlin)",
    "do_not_contact": "Do not contact (yes/no)",
    "company_name": "Company name",
    "company_domain": "Company domain or website",
    **COMPANY_FIELD_LABELS,
    "company_location": "Company location (several columns are joined)",
    "company_technologies": "Company technologies (comma separated)",
    "company_keywords": "Company keywords (comma separated)",
    "tags": "Tags (comma separated)",
}
IGNORE = "ignore"
CUSTOM_PREFIX = "custom:"
IDENTITY_TARGETS = frozenset({"email", "linkedin_url", "first_name", "last_name", FULL_NAME})


class ImportFileError(ValueError):
    """The file cannot be imported at all (empty, binary, no header); the message is shown to the user."""


@dataclass(frozen=True)
class FileFormat:
    encoding: str
    delimiter: str


# Excel's workbook formats (xlsx is a zip, xls an OLE compound file) and anything else mostly made of NULs.
_BINARY_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")


def _looks_binary(head: bytes) -> bool:
    """A stray NUL byte in a cell is text to clean (leadgen.text), not a reason to refuse the file."""
    return head.startswith(_BINARY_MAGIC) or head.count(b"\x00") > max(8, len(head) // 100)


def detect_encoding(stream: IO[bytes]) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, else Windows-1252 (a superset of Latin-1
    for text). Reads the file once in blocks, never all of it at once."""
    head = stream.read(SAMPLE_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _looks_binary(head):
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
        name = name.strip().lstrip("\ufeff").strip()[:HEADER_LIMIT] or f"Column {index}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        headers.append(name)
    return headers


def custom_target(header: str) -> str:
    """The custom field a column is kept as: its header, within the custom key limit (shown in the mapping)."""
    return f"{CUSTOM_PREFIX}{header[:CUSTOM_KEY_LIMIT].strip()}"


def suggest_mapping(headers: list[str]) -> dict[str, str]:
    """Each header onto a prospect field when its name is a known spelling, else kept as a custom field."""
    mapping: dict[str, str] = {}
    for header in headers:
        target = field_for_alias(header, exports=True)
        mapping[header] = target or custom_target(header)
    return mapping


def mapping_errors(headers: list[str], mapping: dict[str, str]) -> list[str]:
    errors = []
    for header in headers:
        target = mapping.get(header, IGNORE)
        if target == IGNORE or target in FIELD_TARGETS:
            continue
        key = target[len(CUSTOM_PREFIX) :] if target.startswith(CUSTOM_PREFIX) else ""
        if not key.strip():
            errors.append(f"Column “{header}”: choose a field, a custom field or “ignore”.")
        elif len(key) > CUSTOM_KEY_LIMIT:
            errors.append(
                f"Column “{header}”: a custom field name can be at most {CUSTOM_KEY_LIMIT} characters."
            )
    if not IDENTITY_TARGETS & {mapping.get(h) for h in headers}:
        errors.append(
            "Map at least one column to Email, LinkedIn URL or a name: without one, rows cannot be identified."
        )
    return errors


class RawRow(NamedTuple):
    line: int
    cells: list[str] | None  # None when the csv reader could not parse the record
    error: str = ""


def csv_reader(text: Iterable[str], delimiter: str) -> Any:
    return csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)


def read_rows(text: Iterable[str], delimiter: str) -> tuple[list[str], Iterator[RawRow]]:
    """Header and an iterator of rows, each with the physical line where its record starts."""
    reader = csv_reader(text, delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The header row cannot be read: {exc}.") from None
    if not any(cell.strip() for cell in header):
        raise ImportFileError("The first row must hold column names, but it is blank.")
    return header, _rows(reader, 0)


def read_records(text: Iterable[str], delimiter: str, *, first_line: int) -> Iterator[RawRow]:
    """The rows of a piece of a file that starts at a record boundary, on physical line `first_line`."""
    return _rows(csv_reader(text, delimiter), first_line - 1)


def _rows(reader: Any, offset: int) -> Iterator[RawRow]:
    """Blank records are skipped; one the csv module cannot parse is a row with the reason instead of cells."""
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(start + offset, None, f"unreadable CSV record: {exc}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if cells and any(cells):
            yield RawRow(line + offset, cells)
