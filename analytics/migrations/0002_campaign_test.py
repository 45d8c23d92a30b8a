import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_idempotency'),
        ('analytics', '0001_rollups'),
        ('campaigns', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='CampaignTest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('min_sends', models.PositiveIntegerField(default=200)),
                ('auto_promote', models.BooleanField(default=False)),
                ('promoted_step', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('promoted_variant', models.CharField(blank=True, max_length=40)),
                ('promoted_at', models.DateTimeField(blank=True, null=True)),
                ('promoted_by', models.CharField(blank=True, max_length=20)),
                ('campaign', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='campaigns.campaign')),
                ('org', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organization')),
            ],
            options={
                'abstract': False,
            },
        ),
    ]
