"""Per-organisation indexes for the list page's sorts by email, company, title and stage and its filters by stage
and owner (and the duplicate finder's company-domain join).

Sorted by one of these columns, the list page reads a page of 50 in keyset order (selectors.keyset_page); filtered
by stage or owner it reads the organisation's newest (or best-scored) people of that stage or owner. PostgreSQL
needs an index for these only in an organisation with many prospects: below PROSPECT_ORG_SORT_INDEX_MIN_ROWS
(50,000) it reads the organisation's rows through its created-at index, or sorts them for the page (about 15 ms at
30,000 people). As table-wide indexes they cost every insert of every organisation: the four sorts a quarter of an
import's database CPU, and the four filter indexes a third of what was left, most of it two writers waiting on the
same index pages (bench/README.md, "CSV import"), for small organisations that never needed them. So an
organisation over the threshold gets its own:

    CREATE INDEX CONCURRENTLY prospect_org_<id>_email_sort ON prospects_prospect (email, id) WHERE org_id = <id>

and the same for the other sorts and filters (COLUMNS, FILTERS). The list query is unchanged: its `org_id = <id>` lets the
planner use them. Beat runs sort_indexes_maintain hourly, and an import that leaves its organisation over the
threshold without them queues it at once (import_done). A first import of a million people into a new organisation
thus writes none of them: they are built once it is done, in one sorted pass each, instead of entry by entry
(bench/import_bench.py times both). Until they are, such a page in that organisation takes a few hundred
milliseconds instead of a few.

The sorts by created, updated, last name and score keep their table-wide indexes: the pipeline reads an import's
rows through the updated one, name matching uses the last-name one, and the other two cost an import nearly
nothing (every new row lands at the end of its organisation's range).
"""

from __future__ import annotations

from django.conf import settings

from leadgen.tasks import task_send_on_commit
from prospects import org_indexes
from prospects.models import Import, ImportStatus, Prospect

LOCK_KEY = "sort-indexes:maintain"
# Sort key → the index's columns; the keyset pagination orders by (column, id).
COLUMNS = {"email": "email", "company": "company_name", "title": "title", "stage": "stage"}
# Filter → its index: a stage newest first or best scored first (selectors.SORTS' score expression), an owner's
# people newest first, the people at one company domain (merge.duplicate_groups).
FILTERS = {
    "stage_created": "USING btree (stage, created_at DESC, id DESC)",
    "stage_score": "USING btree (stage, COALESCE(score, -1), id)",
    "owner": "USING btree (owner_id, created_at DESC, id DESC)",
    "company_domain": "USING btree (company_domain)",
}


def _indexes() -> dict[str, str]:
    sorts = {
        f"prospect_org_{{org}}_{key}_sort": f"USING btree ({column}, id)" for key, column in COLUMNS.items()
    }
    return sorts | {f"prospect_org_{{org}}_{key}": body for key, body in FILTERS.items()}


KIND = org_indexes.OrgIndexKind(
    label="list indexes",
    model=Prospect,
    indexes=_indexes,
    threshold_setting="PROSPECT_ORG_SORT_INDEX_MIN_ROWS",
    lock_key=LOCK_KEY,
)


def index_names(org_id: int) -> list[str]:
    return list(KIND.names(org_id))


def org_sort_indexes() -> dict[int, list[str]]:
    """org id → the names of its valid list indexes."""
    return {
        org_id: sorted(name for name, valid in found.items() if valid)
        for org_id, found in org_indexes.existing(KIND).items()
    }


def sort_indexes_maintain(*, min_rows: int | None = None) -> org_indexes.Maintenance:
    """Build, repair and drop the per-organisation list indexes (see the module docstring). Runs outside any
    transaction (CONCURRENTLY needs that); one run at a time across workers."""
    return org_indexes.maintain(KIND, min_rows=min_rows)


def import_done(*, job: Import) -> bool:
    """After an import: queue the maintenance when it left its organisation over the threshold without all of
    its list indexes. Returns whether it did."""
    if job.status != ImportStatus.DONE or not job.created_count:
        return False
    if len(org_sort_indexes().get(job.org_id, [])) == len(_indexes()):
        return False
    if (
        Prospect.objects.unscoped().filter(org_id=job.org_id).count()
        < settings.PROSPECT_ORG_SORT_INDEX_MIN_ROWS
    ):
        return False
    task_send_on_commit("prospects.imports.tasks.sort_indexes_maintain_task")
    return True
