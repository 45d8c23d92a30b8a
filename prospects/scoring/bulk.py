"""Many rows, each with its own values, in one UPDATE: the pipeline's batch writes.

Django's `bulk_update` builds a `CASE WHEN id = … THEN …` expression per row and column; resolving them cost about
60 expression objects and 1.5 ms of Python per prospect in the enrich and qualify steps (the bench's profile).
`UPDATE … FROM (VALUES …)` sends the same values as one statement that PostgreSQL joins on the primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model

from leadgen.tenancy import require_org_id

CHUNK = 500


def rows_update(model: type[Model], rows: Sequence[Any], fields: Sequence[str]) -> int:
    """Write `fields` of each row (model instances of the current organisation) as they are in memory; returns
    the number of rows updated. Only those columns are written, and only rows of the current org."""
    if not rows or not fields:
        return 0
    meta = model._meta
    quote = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    kinds = [str(field.db_type(connection)) for field in [pk, *columns]]
    row_sql = "(" + ", ".join(f"%s::{kind}" for kind in kinds) + ")"
    pk_column = str(pk.column)
    names = ", ".join(quote(str(field.column)) for field in [pk, *columns])
    sets = ", ".join(f"{quote(str(c.column))} = v.{quote(str(c.column))}" for c in columns)
    org_id = require_org_id()
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            params: list[Any] = []
            for row in chunk:
                params.append(row.pk)
                for column in columns:
                    params.append(column.get_db_prep_save(getattr(row, column.attname), connection))
            # Identifiers come from the model's own metadata; every value is a parameter.
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} AS t SET {sets} "  # noqa: S608
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v({names}) "
                f"WHERE t.{quote(pk_column)} = v.{quote(pk_column)} AND t.org_id = %s",
                [*params, org_id],
            )
            updated += cursor.rowcount
    return updated
