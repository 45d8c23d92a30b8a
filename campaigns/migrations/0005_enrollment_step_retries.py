from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_engagement_pauses"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrollment",
            name="step_retries",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
