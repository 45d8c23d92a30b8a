"""The list sorts by email, company, title and stage keep an index only in organisations with many prospects
(prospects.sort_indexes). Before the table-wide indexes go, each organisation already over the threshold gets its
own, so its sorted list pages never lose theirs; beat keeps them up to date afterwards."""

from django.conf import settings
from django.db import migrations

# As prospects.sort_indexes names and defines them (copied: a migration must not change with the app's code).
SORTS = (("email", "email"), ("company", "company_name"), ("title", "title"), ("stage", "stage"))


def build_for_big_orgs(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT org_id FROM prospects_prospect GROUP BY org_id HAVING count(*) >= %s",
            [settings.PROSPECT_ORG_SORT_INDEX_MIN_ROWS],
        )
        for (org_id,) in cursor.fetchall():
            for key, column in SORTS:
                cursor.execute(
                    f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "prospect_org_{int(org_id)}_{key}_sort" '
                    f"ON prospects_prospect USING btree ({column}, id) WHERE org_id = {int(org_id)}"
                )


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("prospects", "0014_crmrecord_company_domain"),
    ]

    operations = [
        migrations.RunPython(build_for_big_orgs, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_email_sort"),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_company_sort"),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_title_sort"),
        migrations.RemoveIndex(model_name="prospect", name="prospect_org_stage_sort"),
    ]
