"""The list filters by stage (newest or best scored first) and owner, and the duplicate finder's company-domain
join, keep an index only in organisations with many prospects (prospects.sort_indexes), as the list sorts do since
0015. Before the table-wide indexes go, each organisation already over the threshold gets its own, so its filtered
pages never lose theirs; beat keeps them up to date afterwards."""

from django.conf import settings
from django.db import migrations

# As prospects.sort_indexes names and defines them (copied: a migration must not change with the app's code).
FILTERS = (
    ("stage_created", "(stage, created_at DESC, id DESC)"),
    ("stage_score", "(stage, COALESCE(score, -1), id)"),
    ("owner", "(owner_id, created_at DESC, id DESC)"),
    ("company_domain", "(company_domain)"),
)


def build_for_big_orgs(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT org_id FROM prospects_prospect GROUP BY org_id HAVING count(*) >= %s",
            [settings.PROSPECT_ORG_SORT_INDEX_MIN_ROWS],
        )
        for (org_id,) in cursor.fetchall():
            for key, columns in FILTERS:
                cursor.execute(
                    f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "prospect_org_{int(org_id)}_{key}" '
                    f"ON prospects_prospect USING btree {columns} WHERE org_id = {int(org_id)}"
                )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("prospects", "0015_list_sorts_per_big_org"),
    ]

    operations = [
        migrations.RunPython(build_for_big_orgs, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_stage"),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_stage_score"),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_owner"),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_company_domain"),
    ]
