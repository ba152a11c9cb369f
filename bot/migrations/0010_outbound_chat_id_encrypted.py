"""Encrypt OutboundMessage.chat_id at rest (a Telegram chat id is personal data). Reversible."""

from django.db import migrations, models

import relove.core.crypto


def encrypt(apps, schema_editor):
    Model = apps.get_model("bot", "OutboundMessage")
    for row in Model.objects.order_by("pk").iterator(chunk_size=500):
        row.chat_id = row.chat_id_plain
        row.save(update_fields=["chat_id"])


def decrypt(apps, schema_editor):
    Model = apps.get_model("bot", "OutboundMessage")
    for row in Model.objects.order_by("pk").iterator(chunk_size=500):
        row.chat_id_plain = row.chat_id
        row.save(update_fields=["chat_id_plain"])


class Migration(migrations.Migration):

    dependencies = [
        ("bot", "0009_update_claim_done"),
    ]

    operations = [
        migrations.AlterField("outboundmessage", "chat_id", models.BigIntegerField(null=True)),
        migrations.RenameField("outboundmessage", "chat_id", "chat_id_plain"),
        migrations.AddField("outboundmessage", "chat_id", relove.core.crypto.EncryptedBigIntegerField(null=True)),
        migrations.RunPython(encrypt, decrypt),
        migrations.RemoveField("outboundmessage", "chat_id_plain"),
        migrations.AlterField("outboundmessage", "chat_id", relove.core.crypto.EncryptedBigIntegerField(
            verbose_name='чат')),
    ]
