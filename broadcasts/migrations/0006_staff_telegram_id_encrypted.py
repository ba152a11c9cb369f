"""Encrypt StaffTelegramAccount.telegram_id at rest (a Telegram chat id is personal data). Reversible."""

from django.db import migrations, models

import relove.core.crypto


def encrypt(apps, schema_editor):
    Model = apps.get_model("broadcasts", "StaffTelegramAccount")
    for row in Model.objects.order_by("pk").iterator(chunk_size=500):
        row.telegram_id = row.telegram_id_plain
        row.save(update_fields=["telegram_id"])


def decrypt(apps, schema_editor):
    Model = apps.get_model("broadcasts", "StaffTelegramAccount")
    for row in Model.objects.order_by("pk").iterator(chunk_size=500):
        row.telegram_id_plain = row.telegram_id
        row.save(update_fields=["telegram_id_plain"])


class Migration(migrations.Migration):

    dependencies = [
        ("broadcasts", "0005_composer_v2"),
    ]

    operations = [
        migrations.AlterField("stafftelegramaccount", "telegram_id", models.BigIntegerField(null=True)),
        migrations.RenameField("stafftelegramaccount", "telegram_id", "telegram_id_plain"),
        migrations.AddField("stafftelegramaccount", "telegram_id", relove.core.crypto.EncryptedBigIntegerField(null=True)),
        migrations.RunPython(encrypt, decrypt),
        migrations.RemoveField("stafftelegramaccount", "telegram_id_plain"),
        migrations.AlterField("stafftelegramaccount", "telegram_id", relove.core.crypto.EncryptedBigIntegerField(
            verbose_name='Telegram ID', help_text='Числовой id вашего аккаунта (узнать: @userinfobot). Сначала напишите боту /start, иначе Telegram не даст ему написать вам.')),
    ]
