"""CSV imports as the views, the API and the task use them: upload, mapping, preview, start, run, results.

Formats and mapping live in `imports.formats`, row cleaning in `imports.cleaning`, the set-based SQL that writes
prospects in `imports.engine`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from accounts.models import Organization, User
from leadgen.csvsafe import csv_safe
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope
from prospects import normalize
from prospects.fields import tags_check
from prospects.imports.cleaning import COLUMN, STAGE_COLUMNS, TAG_SEPARATOR, RowCleaner, RowError
from prospects.imports.engine import import_execute
from prospects.imports.formats import (
    IGNORE,
    ImportFileError,
    detect_format,
    mapping_errors,
    open_text,
    read_rows,
    suggest_mapping,
    unique_headers,
)
from prospects.models import Import, ImportRowError, ImportStatus
from prospects.scoring.intake import pipeline_on_import_done
from prospects.sort_indexes import import_done as sort_indexes_import_done

log = logging.getLogger(__name__)

PREVIEW_ROWS = 20

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
    tags = tags_check(normalize.tags(tags))
    with transaction.atomic():
        claimed = Import.objects.filter(pk=job.pk, status=ImportStatus.UPLOADED).update(
            mapping={h: mapping.get(h, IGNORE) for h in job.headers},
            update_existing=update_existing,
            tags=tags,
            status=ImportStatus.QUEUED,
        )
        if not claimed:
            raise ValidationError("This import has already been started.")
        task_send_on_commit("prospects.imports.tasks.import_run_task", job.org_id, job.pk)
    job.refresh_from_db()
    return job


def import_claim(*, import_id: int) -> Import | None:
    """Move a queued job to running; None when it is gone or another worker already has it."""
    claimed = Import.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING,
        started_at=timezone.now(),
        finished_at=None,
        error="",
        processed_rows=0,
        created_count=0,
        created_without_email=0,
        updated_count=0,
        unchanged_count=0,
        suppressed_count=0,
        failed_count=0,
    )
    if not claimed:
        return None
    ImportRowError.objects.filter(job_id=import_id).delete()
    return Import.objects.get(pk=import_id)


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
        sort_indexes_import_done(job=job)
        return job


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
                    values = {name: cleaned[COLUMN[name]] for name in STAGE_COLUMNS[1:]}
                    values["custom_fields"] = json.loads(values["custom_fields"] or "{}")
                    values["tags"] = ", ".join(t for t in (values["tags"] or "").split(TAG_SEPARATOR) if t)
            rows.append(PreviewRow(raw.line, values, problem))
            if len(rows) >= limit:
                break
        text.detach()
    return rows


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
