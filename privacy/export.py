"""Export of everything the product holds about a member (their /export and the staff action).

The document (schema ``relove-member-export/1``, described in docs/export-schema.md):

- ``member``: every column of the member row, plus ``tags`` by name;
- ``records``: for every model that references the member (found by introspection, the same
  list erasure uses), keyed by ``app_label.ModelName``, the member's rows with every column
  (encrypted ones decrypted; foreign keys as ids with a ``<field>_display`` text);
- ``archived_activity``: the member's lines from the activity-log archives.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from profiles.models import TelegramUser
from relove.core.archive import archive_files, archive_lock, archive_read

from .introspection import member_relations

EXPORT_SCHEMA = "relove-member-export/1"
# Internal bookkeeping, not information about the member (the digests index fields exported in full).
SKIPPED_FIELDS = {"profile_rotation_claimed_at", "telegram_id_hash", "search_tokens"}


def _row(obj: models.Model) -> dict:
    out = {}
    for field in obj._meta.concrete_fields:
        if field.name in SKIPPED_FIELDS:
            continue
        if field.is_relation:
            value = getattr(obj, field.attname)
            out[field.name] = value
            if value is not None and field.related_model not in (TelegramUser, get_user_model()):
                out[f"{field.name}_display"] = str(getattr(obj, field.name))
        else:
            out[field.name] = field.value_from_object(obj)
    return out


def member_archived_activity(*, user_pk: int) -> list[dict]:
    with archive_lock():
        return [r for path in archive_files() for r in archive_read(path) if r.get("user_id") == user_pk]


def member_export_data(*, user: TelegramUser) -> dict:
    """Every field the product holds about the member, as a JSON-ready dict (schema above)."""
    member = _row(user)
    member["tags"] = list(user.tags.values_list("name", flat=True))
    records = {}
    for relation in sorted(member_relations(), key=lambda r: r.label):
        qs = relation.rows(user.pk).order_by("pk")
        records[relation.label] = [_row(obj) for obj in qs]
    return {"schema": EXPORT_SCHEMA, "exported_at": timezone.now(), "member": member, "records": records,
            "archived_activity": member_archived_activity(user_pk=user.pk)}


def member_export_json(*, user: TelegramUser) -> bytes:
    return json.dumps(member_export_data(user=user), cls=DjangoJSONEncoder, ensure_ascii=False,
                      indent=2).encode("utf-8")
