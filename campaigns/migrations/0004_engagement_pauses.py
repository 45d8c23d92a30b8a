import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_tracking_switches"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="ooo_pause_days",
            field=models.PositiveSmallIntegerField(
                default=7,
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(90),
                ],
            ),
        ),
        migrations.AddField(
            model_name="enrollment",
            name="paused_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="enrollment",
            name="replies_seen_id",
            field=models.BigIntegerField(default=0),
        ),
    ]
