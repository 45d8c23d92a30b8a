# Lead source secrets become Fernet ciphertext (leadgen.crypto); the column type stays text.

import leadgen.crypto
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('prospects', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='leadsourcesettings',
            name='google_key',
            field=leadgen.crypto.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name='leadsourcesettings',
            name='meta_app_secret',
            field=leadgen.crypto.EncryptedTextField(blank=True),
        ),
        migrations.AlterField(
            model_name='leadsourcesettings',
            name='meta_page_access_token',
            field=leadgen.crypto.EncryptedTextField(blank=True),
        ),
    ]
