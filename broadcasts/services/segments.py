"""Saved audience segments: staff keep a set of filters under a name and reuse it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..models import SavedSegment
from ..selectors import Segment


@transaction.atomic
def segment_save(*, name: str, segment: Segment, created_by=None) -> SavedSegment:
    """Keep ``segment`` as a new saved segment called ``name`` (names are unique)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Назовите сегмент."]})
    if len(name) > SavedSegment._meta.get_field("name").max_length:
        raise ValidationError({"name": ["Название сегмента — до 120 символов."]})
    try:
        with transaction.atomic():
            saved = SavedSegment.objects.create(
                name=name, gender=segment.gender, language=segment.language,
                active_within_days=segment.active_within_days, consented_only=segment.consented_only,
                created_by=created_by)
    except IntegrityError:
        raise ValidationError({"name": [f"Сегмент «{name}» уже есть: выберите другое название."]}) from None
    saved.stages.set(segment.stage_ids)
    saved.streams.set(segment.stream_ids)
    saved.tags.set(segment.tag_ids)
    return saved
