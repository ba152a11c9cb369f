"""Encrypt the member's identity at rest: Telegram id, username and names.

The id moves to an encrypted column found through a keyed digest (``telegram_id_hash``,
unique); the names to encrypted columns plus word digests for staff search
(``search_tokens``). Reversible: going back decrypts into plain columns again.
"""

from django.db import migrations, models

import relove.core.blind_index
import relove.core.crypto

NAMES = ("username", "first_name", "last_name")
BATCH = 500


def encrypt_identity(apps, schema_editor):
    TelegramUser = apps.get_model("profiles", "TelegramUser")
    for member in TelegramUser.objects.order_by("pk").iterator(chunk_size=BATCH):
        member.telegram_id = member.telegram_id_plain
        for name in NAMES:
            setattr(member, name, getattr(member, f"{name}_plain") or "")
        # pre_save of the digest fields computes them from the values just set.
        member.save(update_fields=["telegram_id", "telegram_id_hash", *NAMES, "search_tokens"])


def decrypt_identity(apps, schema_editor):
    TelegramUser = apps.get_model("profiles", "TelegramUser")
    for member in TelegramUser.objects.order_by("pk").iterator(chunk_size=BATCH):
        member.telegram_id_plain = member.telegram_id
        for name in NAMES:
            setattr(member, f"{name}_plain", getattr(member, name) or "")
        member.save(update_fields=["telegram_id_plain", *(f"{n}_plain" for n in NAMES)])


class Migration(migrations.Migration):

    dependencies = [
        ("profiles", "0004_alter_userinteraction_kind"),
    ]

    operations = [
        # 1. The plain columns step aside (nullable, so the way back can re-add them empty).
        migrations.AlterField("telegramuser", "telegram_id", models.BigIntegerField(null=True)),
        migrations.RenameField("telegramuser", "telegram_id", "telegram_id_plain"),
        *[migrations.RenameField("telegramuser", name, f"{name}_plain") for name in NAMES],
        # 2. The encrypted columns and the digests, nullable while they are filled.
        migrations.AddField("telegramuser", "telegram_id", relove.core.blind_index.BlindIndexedBigIntegerField(
            index="telegram_id_hash", null=True, verbose_name="Telegram ID")),
        migrations.AddField("telegramuser", "telegram_id_hash", relove.core.blind_index.BlindIndexField(
            null=True, source="telegram_id", verbose_name="индекс Telegram ID")),
        *[migrations.AddField("telegramuser", name, relove.core.crypto.EncryptedTextField(null=True))
          for name in NAMES],
        migrations.AddField("telegramuser", "search_tokens", relove.core.blind_index.SearchTokensField(
            sources=("first_name", "last_name", "username"), verbose_name="поисковый индекс имени")),
        # 3. Move the data.
        migrations.RunPython(encrypt_identity, decrypt_identity),
        # 4. The plain columns go.
        migrations.RemoveField("telegramuser", "telegram_id_plain"),
        *[migrations.RemoveField("telegramuser", f"{name}_plain") for name in NAMES],
        # 5. Final shape.
        migrations.AlterField("telegramuser", "telegram_id", relove.core.blind_index.BlindIndexedBigIntegerField(
            index="telegram_id_hash", verbose_name="Telegram ID")),
        migrations.AlterField("telegramuser", "telegram_id_hash", relove.core.blind_index.BlindIndexField(
            source="telegram_id", unique=True, verbose_name="индекс Telegram ID")),
        migrations.AlterField("telegramuser", "username", relove.core.crypto.EncryptedTextField(
            blank=True, default="", verbose_name="имя пользователя")),
        migrations.AlterField("telegramuser", "first_name", relove.core.crypto.EncryptedTextField(
            blank=True, default="", verbose_name="имя")),
        migrations.AlterField("telegramuser", "last_name", relove.core.crypto.EncryptedTextField(
            blank=True, default="", verbose_name="фамилия")),
    ]
