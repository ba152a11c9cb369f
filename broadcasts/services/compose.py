"""Composing broadcasts: validation, creation, edits while still a draft, test sends."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from bot import outbound
from relove.core.staff_errors import MissingSetting

from ..models import Broadcast, StaffTelegramAccount
from ..rendering import broadcast_message, broadcast_photo, check_buttons, check_text

logger = logging.getLogger(__name__)

EDITABLE = (Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED)
# The shared wording of a missing setting (relove.core.staff_errors), with what staff should do.
NO_TOKEN = (f"{MissingSetting('TELEGRAM_BOT_TOKEN', 'бот не может отправлять сообщения')}. "
            "Задайте его в окружении сервера.")
NO_RECIPIENTS = "Получателей нет: под эту аудиторию не подходит ни один участник. Измените аудиторию."
CONTENT_FIELDS = ["title", "text", "buttons", "photo", "photo_file_id", "scheduled_at", "counts_against_budget",
                  "local_time", "local_date",
                  "segment_gender", "segment_language", "segment_active_within_days", "segment_consented_only"]


class BroadcastError(Exception):
    """A request staff can fix (wrong state, missing Telegram id); the message is shown as is."""


def broadcast_validate(*, text: str, buttons, has_photo: bool) -> None:
    """Raise ``ValidationError`` keyed by field if Telegram would reject the text or buttons."""
    errors = {}
    if text_errors := check_text(text, has_photo=has_photo):
        errors["text"] = text_errors
    if button_errors := check_buttons(buttons):
        errors["buttons"] = button_errors
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def broadcast_create(*, title: str, text: str, buttons: list | None = None, photo=None, created_by=None,
                     counts_against_budget: bool = False, stage_ids=(), stream_ids=(), tag_ids=(),
                     gender: str = "", language: str = "", active_within_days: int | None = None,
                     consented_only: bool = True, local_time=None, local_date=None) -> Broadcast:
    """A validated draft with its audience segment (``local_time``: delivery in members' local time)."""
    broadcast_validate(text=text, buttons=buttons or [], has_photo=bool(photo))
    broadcast = Broadcast.objects.create(
        title=title, text=text, buttons=buttons or [], photo=photo or "", created_by=created_by,
        counts_against_budget=counts_against_budget, segment_gender=gender, segment_language=language,
        segment_active_within_days=active_within_days, segment_consented_only=consented_only,
        local_time=local_time, local_date=local_date)
    broadcast.segment_stages.set(stage_ids)
    broadcast.segment_streams.set(stream_ids)
    broadcast.segment_tags.set(tag_ids)
    return broadcast


@transaction.atomic
def broadcast_save(*, broadcast: Broadcast, photo_changed: bool = False) -> Broadcast:
    """Save staff edits of a draft or scheduled broadcast (validated).

    Never touches the status or a broadcast that has started: the row is locked and its
    status re-checked, so an edit racing with the start of sending is refused, not half-applied.
    """
    broadcast_validate(text=broadcast.text, buttons=broadcast.buttons, has_photo=bool(broadcast.photo))
    if photo_changed:
        broadcast.photo_file_id = ""
    if broadcast.pk is None:
        broadcast.status = Broadcast.Status.DRAFT
        broadcast.save()
        return broadcast
    current = Broadcast.objects.select_for_update().filter(pk=broadcast.pk).values_list("status", flat=True).first()
    if current not in EDITABLE:
        raise BroadcastError("Рассылка уже отправляется или завершена: изменения не сохранены.")
    broadcast.save(update_fields=CONTENT_FIELDS)
    return broadcast


def staff_telegram_set(*, user, telegram_id: int) -> StaffTelegramAccount:
    """Remember where ``user`` receives test sends."""
    account, _ = StaffTelegramAccount.objects.update_or_create(user=user, defaults={"telegram_id": telegram_id})
    return account


def broadcast_test_send(*, broadcast: Broadcast, staff_user) -> outbound.Outcome:
    """Send the broadcast, exactly as members will get it, to the staff member's own Telegram.

    Goes through the shared outbound path (rate limit, error classification); creates no
    delivery rows and does not count against anyone's daily budget.
    """
    if not settings.TELEGRAM_BOT_TOKEN:
        raise BroadcastError(NO_TOKEN)
    account = StaffTelegramAccount.objects.filter(user=staff_user).first()
    if account is None or account.verified_at is None:
        raise BroadcastError("Привяжите свой Telegram: «Telegram сотрудников» → «Привязать Telegram», "
                             "затем отправьте боту команду с кодом.")
    broadcast_validate(text=broadcast.text, buttons=broadcast.buttons, has_photo=bool(broadcast.photo))
    message = broadcast_message(broadcast, photo=broadcast_photo(broadcast))
    outcome = outbound.send(account.telegram_id, [message])
    if outcome.photo_file_id and not broadcast.photo_file_id:
        Broadcast.objects.filter(pk=broadcast.pk, photo_file_id="").update(photo_file_id=outcome.photo_file_id)
    logger.info("broadcast %s: test send by staff %s: %s", broadcast.pk, staff_user.pk, outcome.status)
    return outcome
