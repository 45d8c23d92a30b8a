from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("prospects", "0008_icp_primary_qualification_confidence"),
    ]

    operations = [
        migrations.AddField(
            model_name="import",
            name="created_without_email",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="pipelinesettings",
            name="monthly_ai_budget_usd",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=10, null=True),
        ),
        migrations.AddField(
            model_name="pipelinesettings",
            name="ai_budget_alerted_month",
            field=models.CharField(blank=True, max_length=7),
        ),
    ]
