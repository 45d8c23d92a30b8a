"""Reads for prospects and companies, shared by the pages and the JSON API.

Lists use keyset (cursor) pagination over (sort value, id) and a capped count, so a page costs the same at row
10 and at row 1,000,000: every sortable column has an index leading with `org` (see Prospect.Meta.indexes).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.conf import settings as django_settings
from django.contrib.postgres.search import SearchQuery, SearchVectorField
from django.db import connection
from django.db.models import Case, F, FilteredRelation, Func, Q, QuerySet, Subquery, TextField, Value, When
from django.db.models.expressions import Combinable, RawSQL
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from leadgen.tenancy import org_scope, require_org_id
from prospects.models import (
    ICP,
    Activity,
    Company,
    Import,
    ImportRowError,
    Note,
    Prospect,
    SavedView,
    Source,
    Stage,
    Tier,
)
from prospects.scoring.selectors import headline_attach, primary_icp_subquery

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# "About N" instead of an exact COUNT(*): counting stops after this many rows, and the planner's estimate
# stands in beyond (a filter no index covers would otherwise scan ~cap/selectivity rows).
COUNT_CAP = 1_000
BOARD_CARDS = 25
BOARD_COUNT_CAP = 1_000

# Sort name → expression; NULL scores sort as -1 so one index range serves both directions.
SORTS: dict[str, Combinable] = {
    "created_at": F("created_at"),
    "updated_at": F("updated_at"),
    "last_name": F("last_name"),
    "email": F("email"),
    "company_name": F("company_name"),
    "title": F("title"),
    "stage": F("stage"),
    "score": Coalesce(F("score"), Value(-1)),
}
TIERS = tuple(Tier.values)
# The same keys in a form no btree index serves: for a rare search term Postgres must then find the matches
# through the word index and sort them, instead of walking a sort index and filtering every row it meets.
UNINDEXED_SORTS: dict[str, Combinable] = {
    "created_at": F("created_at") + Value(dt.timedelta(0)),
    "updated_at": F("updated_at") + Value(dt.timedelta(0)),
    "score": Coalesce(F("score"), Value(-1)) + Value(0),
    **{name: Concat(F(name), Value("")) for name in ("last_name", "email", "company_name", "title", "stage")},
}
# A search first looks for a page of matches among this many next rows in sort order (an index walk: cheap
# when the term is common); only when they hold less than a page does the word index drive (cheap when rare).
SEARCH_WINDOW = 2_000
# Below this many estimated matches a search goes straight to the word index: a window of SEARCH_WINDOW rows
# would hold fewer than a page of them at any organisation size worth a window, and cost ~15 ms to find out.
SEARCH_RARE_ESTIMATE = 5_000
# A word of a search, as Prospect.search_vector splits its text (SEARCH_SEPARATORS: runs of letters and digits).
_SEARCH_WORD = re.compile(r"[^\W_]+")


def search_terms(q: str) -> str:
    """The tsquery for a search box's text: every word must start a word of the person's names, email (local part
    and domain), company or title. "jan", "acme", "vp sal" and "jan@acme.c" match; "anna" does not match "Joanna",
    and a search with no letters or digits ("%") matches nobody. Only letters and digits reach the tsquery, so the
    user's text can never be read as tsquery syntax."""
    return " & ".join(f"{word}:*" for word in _SEARCH_WORD.findall(q.lower()))


def prospect_text_search(qs: QuerySet[Prospect], q: str, *, use_index: bool = True) -> QuerySet[Prospect]:
    """`qs` narrowed to the prospects `q` finds (see search_terms). With `use_index=False` the match is tested
    row by row: cheaper on a few thousand given rows than a broad term's posting lists in the GIN index."""
    field = "search_vector"
    if not use_index:
        qs = qs.alias(
            _search_vector=Func(
                F("search_vector"),
                template="(%(expressions)s || ''::tsvector)",
                output_field=SearchVectorField(),
            )
        )
        field = "_search_vector"
    return qs.filter(**{field: SearchQuery(search_terms(q), search_type="raw", config="simple")})


class InvalidCursor(ValueError):
    """The cursor is malformed or belongs to another sort order."""


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value).strip())
    except (TypeError, ValueError):
        return None


def _values(data: Mapping[str, Any], key: str) -> list[str]:
    if hasattr(data, "getlist"):
        raw = data.getlist(key)
    else:
        raw = data.get(key) or []
        raw = raw if isinstance(raw, list | tuple) else [raw]
    out: list[str] = []
    for item in raw:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


@dataclass(frozen=True)
class ProspectFilters:
    """Parsed list filters. Unknown or malformed values are dropped and named in `errors`."""

    q: str = ""
    stages: tuple[str, ...] = ()
    tier: str = ""
    score_min: int | None = None
    score_max: int | None = None
    icp_id: int | None = None
    source: str = ""
    owner_id: int | None = None
    unassigned: bool = False
    tag: str = ""
    company_id: int | None = None
    created_after: dt.date | None = None
    created_before: dt.date | None = None
    sort: str = "created_at"
    descending: bool = True
    errors: tuple[str, ...] = field(default=(), compare=False)
    # The ICP whose score a page shows when no ICP filter is chosen (the primary ICP): sorting by score and the
    # score and tier filters then use its score too, so the order matches the column. Set by pages, never parsed.
    shown_icp_id: int | Subquery | None = field(default=None, compare=False)

    @classmethod
    def from_querydict(cls, data: Mapping[str, Any]) -> ProspectFilters:
        errors: list[str] = []

        def one(key: str) -> str:
            values = _values(data, key)
            return values[0] if values else ""

        stages = tuple(dict.fromkeys(s for s in _values(data, "stage") if s in Stage.values))
        if len(stages) != len(set(_values(data, "stage"))):
            errors.append("stage")
        numbers: dict[str, int | None] = {}
        for key in ("score_min", "score_max", "icp", "company"):
            raw = one(key)
            numbers[key] = _int(raw) if raw else None
            if raw and numbers[key] is None:
                errors.append(key)
        dates: dict[str, dt.date | None] = {}
        for key in ("created_after", "created_before"):
            raw = one(key)
            dates[key] = _date(raw) if raw else None
            if raw and dates[key] is None:
                errors.append(key)
        owner = one("owner")
        owner_id = _int(owner) if owner and owner != "none" else None
        if owner and owner != "none" and owner_id is None:
            errors.append("owner")
        tier = one("tier")
        if tier and tier not in TIERS:
            errors.append("tier")
            tier = ""
        source = one("source")
        if source and source not in Source.values:
            errors.append("source")
            source = ""
        sort = one("sort") or "-created_at"
        descending = sort.startswith("-")
        if sort.lstrip("-") not in SORTS:
            errors.append("sort")
            sort, descending = "-created_at", True
        return cls(
            q=" ".join(one("q").split())[:200],
            stages=stages,
            tier=tier,
            score_min=numbers["score_min"],
            score_max=numbers["score_max"],
            icp_id=numbers["icp"],
            source=source,
            owner_id=owner_id,
            unassigned=owner == "none",
            tag=one("tag")[:60],
            company_id=numbers["company"],
            created_after=dates["created_after"],
            created_before=dates["created_before"],
            sort=sort.lstrip("-"),
            descending=descending,
            errors=tuple(errors),
        )

    @property
    def sort_param(self) -> str:
        return f"-{self.sort}" if self.descending else self.sort

    def params(self, **overrides: Any) -> list[tuple[str, str]]:
        """The canonical query parameters (defaults left out), for links, saved views and exports."""
        f = replace(self, **overrides) if overrides else self
        pairs: list[tuple[str, str]] = []
        if f.q:
            pairs.append(("q", f.q))
        pairs += [("stage", s) for s in f.stages]
        for key, value in (
            ("tier", f.tier),
            ("score_min", f.score_min),
            ("score_max", f.score_max),
            ("icp", f.icp_id),
            ("source", f.source),
            ("owner", "none" if f.unassigned else f.owner_id),
            ("tag", f.tag),
            ("company", f.company_id),
            ("created_after", f.created_after),
            ("created_before", f.created_before),
        ):
            if value not in (None, ""):
                pairs.append((key, str(value)))
        if f.sort_param != "-created_at":
            pairs.append(("sort", f.sort_param))
        return pairs

    def query_string(self, **overrides: Any) -> str:
        return urlencode(self.params(**overrides))

    def sort_link(self, column: str) -> str:
        """Query string that sorts by `column`, flipping the direction when it is already the sort."""
        descending = (
            not self.descending if self.sort == column else column in ("created_at", "updated_at", "score")
        )
        return self.query_string(sort=column, descending=descending)

    def sort_expression(self, *, indexed: bool = True) -> Combinable:
        """The sort key; sorting by score under an ICP filter sorts by that ICP's score."""
        if self.sort == "score" and self._score_icp_id is not None:
            key = Coalesce(F("icp_q__score"), Value(-1))
            return key if indexed else key + Value(0)
        return (SORTS if indexed else UNINDEXED_SORTS)[self.sort]

    @property
    def _score_icp_id(self) -> int | Subquery | None:
        """The ICP whose judgement the score sort and the score/tier filters read: the chosen one, else the shown."""
        return self.icp_id if self.icp_id is not None else self.shown_icp_id

    @property
    def joins_score_icp(self) -> bool:
        """Whether queryset() joins the judgements against the ICP the page shows (as `icp_q`)."""
        return self.icp_id is not None or (self.shown_icp_id is not None and self.reads_score())

    def reads_score(self) -> bool:
        return (
            self.sort == "score"
            or self.score_min is not None
            or self.score_max is not None
            or bool(self.tier)
        )

    @property
    def is_filtered(self) -> bool:
        return bool(self.params(sort="created_at", descending=True))

    def queryset(self, *, search: bool = True, word_index: bool = True) -> QuerySet[Prospect]:
        """The organisation's prospects matching these filters (unordered); `search=False` leaves `q` out.

        With `word_index=False` the search is tested row by row instead of through the GIN index (see
        prospect_text_search).
        """
        qs = Prospect.objects.all()
        if search and self.q.strip():
            qs = prospect_text_search(qs, self.q, use_index=word_index)
        if self.stages:
            qs = qs.filter(stage__in=self.stages)
        # Filtered by an ICP: the prospects judged against it, with its score (the one the list shows).
        score, tier = "score", "tier"
        if self.icp_id is not None:
            qs = qs.alias(
                icp_q=FilteredRelation("qualifications", condition=Q(qualifications__icp_id=self.icp_id))
            ).filter(icp_q__isnull=False)
            score, tier = "icp_q__score", "icp_q__tier"
        elif self.joins_score_icp:
            # No ICP chosen: the page shows the primary ICP's score, so it sorts and filters by it too; prospects
            # not judged against it stay in the list (a LEFT JOIN), sorted last.
            qs = qs.alias(
                icp_q=FilteredRelation(
                    "qualifications", condition=Q(qualifications__icp_id=self.shown_icp_id)
                )
            )
            score, tier = "icp_q__score", "icp_q__tier"
        if self.score_min is not None:
            qs = qs.filter(**{f"{score}__gte": self.score_min})
        if self.score_max is not None:
            qs = qs.filter(**{f"{score}__lte": self.score_max})
        if self.tier:
            qs = qs.filter(**{tier: self.tier})
        if self.source:
            qs = qs.filter(source=self.source)
        if self.unassigned:
            qs = qs.filter(owner__isnull=True)
        elif self.owner_id is not None:
            qs = qs.filter(owner_id=self.owner_id)
        if self.tag:
            qs = qs.filter(tags__contains=[self.tag])
        if self.company_id is not None:
            qs = qs.filter(company_id=self.company_id)
        tz = timezone.get_current_timezone()
        if self.created_after:
            qs = qs.filter(created_at__gte=dt.datetime.combine(self.created_after, dt.time.min, tz))
        if self.created_before:
            end = dt.datetime.combine(self.created_before + dt.timedelta(days=1), dt.time.min, tz)
            qs = qs.filter(created_at__lt=end)
        return qs


@dataclass
class ProspectPage:
    rows: list[Prospect]
    next_cursor: str | None
    # Rows matching the filters, counted up to COUNT_CAP (None when not asked for).
    total: int | None
    total_capped: bool
    # True when `total` is the planner's estimate (searches), not a count.
    total_estimated: bool = False

    @property
    def total_label(self) -> str:
        if self.total is None:
            return ""
        return f"{self.total:,}+" if self.total_capped else f"{self.total:,}"

    @property
    def total_is_approximate(self) -> bool:
        return self.total_capped or self.total_estimated


# --- cursors -----------------------------------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def cursor_encode(*, sort: str, descending: bool, value: Any, pk: int) -> str:
    raw = json.dumps([sort, descending, _encode_value(value), pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str, *, sort: str, descending: bool) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        c_sort, c_desc, value, pk = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("malformed cursor") from None
    if c_sort != sort or c_desc != descending or not isinstance(pk, int):
        raise InvalidCursor("the cursor belongs to another sort order")
    if sort in ("created_at", "updated_at"):
        try:
            value = dt.datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidCursor("malformed cursor") from None
    elif not isinstance(value, int if sort == "score" else str):
        raise InvalidCursor("malformed cursor")
    return value, pk


def _ordered_after(
    qs: QuerySet[Any], *, sort_expr: Combinable, sort: str, descending: bool, cursor: str | None
) -> QuerySet[Any]:
    """`qs` ordered by (sort_expr, id), starting after `cursor`."""
    qs = qs.annotate(_sort_key=sort_expr)
    if cursor:
        value, pk = cursor_decode(cursor, sort=sort, descending=descending)
        # A row comparison, so Postgres starts the index scan at the cursor instead of filtering up to it.
        after = TupleLessThan if descending else TupleGreaterThan
        qs = qs.filter(after(Tuple(F("_sort_key"), F("id")), (value, pk)))
    order = ("-_sort_key", "-id") if descending else ("_sort_key", "id")
    return qs.order_by(*order)


def keyset_page(
    qs: QuerySet[Any], *, sort_expr: Combinable, sort: str, descending: bool, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """One page of `qs` ordered by (sort_expr, id), after `cursor`; returns rows and the next cursor."""
    ordered = _ordered_after(qs, sort_expr=sort_expr, sort=sort, descending=descending, cursor=cursor)
    rows = list(ordered[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = cursor_encode(sort=sort, descending=descending, value=last._sort_key, pk=last.pk)
    return rows, next_cursor


def capped_count(qs: QuerySet[Any], cap: int | None = None) -> tuple[int, bool]:
    """COUNT(*) over at most cap+1 rows (a LIMITed subquery): (count, whether it hit the cap)."""
    cap = COUNT_CAP if cap is None else cap
    n = qs.order_by()[: cap + 1].count()
    return min(n, cap), n > cap


def estimated_count(qs: QuerySet[Any]) -> int:
    """The planner's row estimate for `qs` (planning only, nothing is scanned)."""
    sql, params = qs.order_by().query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cur.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def _with_headline(qs: QuerySet[Prospect], filters: ProspectFilters) -> QuerySet[Prospect]:
    """`qs` with each row's headline score, tier, confidence and ICP name (the filter's ICP, else the primary
    ICP), as headline_attach gives them, read in the page's own query: a LEFT JOIN on the unique (prospect, ICP)
    judgement, reusing the score filter's join when there is one."""
    icp: Any = filters.icp_id if filters.icp_id is not None else primary_icp_subquery()
    relation = "icp_q"
    if not filters.joins_score_icp:
        relation = "headline_q"
        qs = qs.alias(headline_q=FilteredRelation("qualifications", condition=Q(qualifications__icp_id=icp)))
    # Every row's headline names the same ICP: an uncorrelated subquery, which PostgreSQL runs once.
    icp_name = Subquery(ICP.objects.filter(pk=icp).values("name")[:1])
    return qs.annotate(
        headline_score=F(f"{relation}__score"),
        headline_tier=Coalesce(F(f"{relation}__tier"), Value("")),
        headline_confidence=F(f"{relation}__confidence"),
        headline_icp_name=Case(
            When(**{f"{relation}__score__isnull": True}, then=Value("")),
            default=Coalesce(icp_name, Value("")),
        ),
    )


def _word_matches(filters: ProspectFilters) -> QuerySet[Prospect]:
    """The prospects `filters` finds, reached through the word index alone.

    Written as `search_vector @@ q AND org_id = X`, PostgreSQL ANDs the word index's bitmap with a bitmap of
    every row of the organisation (~15 ms at 400,000 rows, more than the rest of the page's SQL). Here the
    words pick the ids and the organisation is checked on those rows only (`org_id + 0` is no index's key); the
    outer query is scoped to the organisation as every query is.
    """
    table = Prospect._meta.db_table
    sql = f"SELECT id FROM {table} WHERE search_vector @@ to_tsquery('simple', %s) AND org_id + 0 = %s"  # noqa: S608
    # Our own table name; the words (letters and digits only, see search_terms) and the org id are parameters.
    matches = RawSQL(sql, [search_terms(filters.q), require_org_id()])  # noqa: S611
    return filters.queryset(search=False).filter(pk__in=matches)


def prospect_search(
    *,
    filters: ProspectFilters,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
    with_count: bool = True,
    select_related: tuple[str, ...] = ("owner",),
    with_headline: bool = True,
) -> ProspectPage:
    """One page of the organisation's prospects matching `filters`. Raises InvalidCursor for a bad cursor.

    `with_headline` gives each row its headline score (the filter's ICP, else the primary ICP) from the page's
    own query (see _with_headline).
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    base = filters.queryset()

    def shown(qs: QuerySet[Prospect]) -> QuerySet[Prospect]:
        qs = qs.select_related(*select_related)
        return _with_headline(qs, filters) if with_headline else qs

    page: dict[str, Any] = {"sort": filters.sort, "descending": filters.descending, "cursor": cursor}
    estimate: int | None = None
    if filters.q:
        # The planner's estimate (planning only) picks the way in, and is the "about N" the page shows.
        estimate = estimated_count(base)
        next_cursor = None
        if estimate >= SEARCH_RARE_ESTIMATE:
            window = _ordered_after(
                filters.queryset(search=False), sort_expr=filters.sort_expression(), **page
            )
            in_window = filters.queryset(word_index=False).filter(pk__in=window[:SEARCH_WINDOW].values("pk"))
            rows, next_cursor = keyset_page(
                shown(in_window), sort_expr=filters.sort_expression(), limit=limit, **page
            )
        if next_cursor is None:
            rows, next_cursor = keyset_page(
                shown(_word_matches(filters)),
                sort_expr=filters.sort_expression(indexed=False),
                limit=limit,
                **page,
            )
    else:
        rows, next_cursor = keyset_page(shown(base), sort_expr=filters.sort_expression(), limit=limit, **page)
    total: int | None = None
    capped = estimated = False
    if with_count:
        if not cursor and next_cursor is None:
            total = len(rows)  # the whole result fits on this page: no second query
        elif filters.q or filters.tag:
            # Counting GIN (words, tags) matches means building whole bitmaps, even under a LIMIT: at a
            # million rows a broad term costs more than the page itself, so searches show an estimate.
            if estimate is None:
                estimate = estimated_count(base)
            total = max(estimate, len(rows) + (1 if next_cursor else 0))
            estimated = True
        else:
            total, capped = capped_count(base)
            if capped:
                # Past the cap, the planner's estimate says "about how many" at no scanning cost.
                total, capped, estimated = max(estimated_count(base), total + 1), False, True
    return ProspectPage(
        rows=rows, next_cursor=next_cursor, total=total, total_capped=capped, total_estimated=estimated
    )


def prospect_export_rows(*, filters: ProspectFilters, org_id: int) -> Iterator[Prospect]:
    """Every prospect matching `filters`, in the list's order, fetched in keyset batches of
    PROSPECT_EXPORT_BATCH rows (constant memory).

    Takes the org explicitly: a streamed response is consumed after the request's org scope has ended.
    """
    batch = int(getattr(django_settings, "PROSPECT_EXPORT_BATCH", 2000))
    cursor: str | None = None
    while True:
        with org_scope(org_id):
            rows, cursor = keyset_page(
                filters.queryset().select_related("owner"),
                sort_expr=filters.sort_expression(),
                sort=filters.sort,
                descending=filters.descending,
                cursor=cursor,
                limit=batch,
            )
        yield from rows
        if cursor is None:
            return


def prospect_custom_field_keys(*, filters: ProspectFilters, org_id: int) -> list[str]:
    """The custom field names used by any prospect matching `filters` (one query), in alphabetical order."""
    with org_scope(org_id):
        keys = (
            filters.queryset()
            .order_by()
            .annotate(key=Func(F("custom_fields"), function="jsonb_object_keys", output_field=TextField()))
            .values_list("key", flat=True)
            .distinct()
        )
        return sorted(keys, key=lambda key: (key.lower(), key))


# --- one prospect ------------------------------------------------------------------------------------------


def prospect_timeline(*, prospect: Prospect, limit: int = 200) -> list[Activity]:
    """Newest first: the prospect's Activity rows and, read from the imports themselves, the CSV imports that
    created or last changed them (an import writes no Activity per row)."""
    items = list(
        Activity.objects.filter(prospect=prospect)
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )
    items += _import_entries(prospect)
    items.sort(key=lambda item: (item.created_at, item.pk or 0), reverse=True)
    return items[:limit]


def _import_entries(prospect: Prospect) -> list[Activity]:
    """Timeline entries (not saved) for the import that created the prospect and the one that last updated them,
    with the file's row: one query, none when no import touched them."""
    touched = [
        (prospect.import_job_id, prospect.import_line, True),
        (prospect.last_import_job_id, prospect.last_import_line, False),
    ]
    ids = {job_id for job_id, _, _ in touched if job_id}
    if not ids:
        return []
    jobs = Import.objects.filter(pk__in=ids).select_related("created_by").in_bulk()
    entries = []
    for job_id, line, created in touched:
        job = jobs.get(job_id or 0)
        if job is None:
            continue  # the import was deleted
        row = f" (row {line})" if line else ""
        summary = (
            f"Imported from {job.original_name}{row}"
            if created
            else f"Updated by import of {job.original_name}{row}"
        )
        entries.append(
            Activity(
                org_id=prospect.org_id,
                prospect=prospect,
                kind="imported",
                actor=job.created_by,
                summary=summary[:500],
                data={"import_id": job.pk, "line": line, "result": "created" if created else "updated"},
                created_at=prospect.created_at
                if created
                else (job.finished_at or job.started_at or job.created_at),
            )
        )
    return entries


def prospect_notes(*, prospect: Prospect, limit: int = 100) -> list[Note]:
    return list(
        Note.objects.filter(prospect=prospect).select_related("author").order_by("-created_at", "-id")[:limit]
    )


# --- board -------------------------------------------------------------------------------------------------


@dataclass
class BoardColumn:
    stage: str
    label: str
    cards: list[Prospect]
    count: int
    capped: bool

    @property
    def count_label(self) -> str:
        return f"{BOARD_COUNT_CAP:,}+" if self.capped else f"{self.count:,}"


def prospect_board(*, cards_per_column: int = BOARD_CARDS) -> list[BoardColumn]:
    """A column per stage: its newest cards and a capped count, in two queries whatever the org's size."""
    per_stage = [
        Prospect.objects.filter(stage=stage)
        .only(
            "id",
            "first_name",
            "last_name",
            "email",
            "company_name",
            "title",
            "stage",
            "score",
            "tier",
            "created_at",
        )
        .order_by("-created_at", "-id")[:cards_per_column]
        for stage in Stage.values
    ]
    cards: dict[str, list[Prospect]] = {stage: [] for stage in Stage.values}
    for prospect in per_stage[0].union(*per_stage[1:], all=True):
        cards[prospect.stage].append(prospect)
    for column in cards.values():
        column.sort(key=lambda p: (p.created_at, p.pk), reverse=True)
    headline_attach([card for column in cards.values() for card in column])
    counts = _board_counts()
    return [
        BoardColumn(
            stage=stage,
            label=Stage(stage).label,
            cards=cards[stage],
            count=min(counts.get(stage, 0), BOARD_COUNT_CAP),
            capped=counts.get(stage, 0) > BOARD_COUNT_CAP,
        )
        for stage in Stage.values
    ]


def _board_counts() -> dict[str, int]:
    # One round trip; each stage's count stops at the cap thanks to the LIMITed lateral subquery.
    table = Prospect._meta.db_table
    sql = f"""
        SELECT s.stage, c.n
        FROM unnest(%s::text[]) AS s(stage)
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM (
                SELECT 1 FROM {table} p WHERE p.org_id = %s AND p.stage = s.stage LIMIT %s
            ) limited
        ) c
    """  # noqa: S608 (table name is our model's, values are parameters)
    with connection.cursor() as cur:
        cur.execute(sql, [list(Stage.values), require_org_id(), BOARD_COUNT_CAP + 1])
        return {stage: int(n) for stage, n in cur.fetchall()}


# --- companies ---------------------------------------------------------------------------------------------


@dataclass
class CompanyPage:
    rows: list[Company]
    next_cursor: str | None


def company_search(*, q: str = "", cursor: str | None = None, limit: int = PAGE_SIZE) -> CompanyPage:
    qs = Company.objects.all()
    for term in q.split():
        qs = qs.filter(Q(name__icontains=term) | Q(domain__icontains=term))
    rows, next_cursor = keyset_page(
        qs, sort_expr=F("name"), sort="name", descending=False, cursor=cursor, limit=limit
    )
    return CompanyPage(rows=rows, next_cursor=next_cursor)


def company_prospects(*, company: Company, limit: int = 100) -> tuple[list[Prospect], int, bool]:
    qs = Prospect.objects.filter(company=company)
    rows = list(qs.select_related("owner").order_by("-created_at", "-id")[:limit])
    if len(rows) < limit:
        return rows, len(rows), False
    total, capped = capped_count(qs)
    return rows, total, capped


def saved_view_list(*, user: Any) -> list[SavedView]:
    return list(SavedView.objects.filter(user=user).order_by("name"))


# --- API lists ---------------------------------------------------------------------------------------------


def newest_first_page(qs: QuerySet[Any], *, cursor: str | None, limit: int) -> tuple[list[Any], str | None]:
    """One page of `qs` by (created_at, id) descending, after `cursor`. Raises InvalidCursor for a bad cursor."""
    return keyset_page(
        qs, sort_expr=F("created_at"), sort="created_at", descending=True, cursor=cursor, limit=limit
    )


def note_page(*, prospect: Prospect, cursor: str | None, limit: int) -> tuple[list[Note], str | None]:
    """The prospect's notes, newest first. Raises InvalidCursor for a bad cursor."""
    return newest_first_page(Note.objects.filter(prospect=prospect), cursor=cursor, limit=limit)


def import_page(*, cursor: str | None, limit: int) -> tuple[list[Import], str | None]:
    """The organisation's imports, newest first. Raises InvalidCursor for a bad cursor."""
    return newest_first_page(Import.objects.all(), cursor=cursor, limit=limit)


def import_error_page(
    *, job: Import, cursor: str | None, limit: int
) -> tuple[list[ImportRowError], str | None]:
    """An import's failed rows by line; the cursor is "line-id". Raises InvalidCursor for a bad cursor."""
    rows = ImportRowError.objects.filter(job=job).order_by("line", "id")
    if cursor:
        line, _, pk = cursor.partition("-")
        if not (line.isdigit() and pk.isdigit()):
            raise InvalidCursor("malformed cursor")
        rows = rows.filter(Q(line__gt=int(line)) | Q(line=int(line), id__gt=int(pk)))
    items = list(rows[: limit + 1])
    next_cursor = f"{items[limit - 1].line}-{items[limit - 1].pk}" if len(items) > limit else None
    return items[:limit], next_cursor
