"""Admin forms: staff type buttons one per line; everything is checked as Telegram would."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Broadcast, StaffTelegramAccount
from .rendering import PHOTO_MAX_BYTES
from .services.compose import EDITABLE, broadcast_validate

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
BUTTONS_HELP = _(
    "Одна кнопка на строку. «Текст | https://ссылка» — кнопка-ссылка; «Текст | ответ» или просто "
    "«Текст» — быстрый ответ: нажатие бот поймёт так, будто участник написал этот ответ.")


def buttons_from_lines(text: str) -> list[dict]:
    """Parse ``Label | https://…`` / ``Label | reply`` / ``Label`` lines into button dicts."""
    buttons = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        label, _sep, target = (part.strip() for part in line.partition("|"))
        if "://" in target:  # meant as a link; check_buttons tells if the scheme is wrong
            buttons.append({"text": label, "url": target})
        else:
            buttons.append({"text": label, "reply": target or label})
    return buttons


def buttons_to_lines(buttons) -> str:
    lines = []
    for button in buttons or []:
        if not isinstance(button, dict):
            continue
        target = button.get("url") or button.get("reply") or ""
        label = button.get("text", "")
        lines.append(label if target in ("", label) else f"{label} | {target}")
    return "\n".join(lines)


class BroadcastForm(forms.ModelForm):
    buttons = forms.CharField(label=_("кнопки"), required=False, help_text=BUTTONS_HELP,
                              widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    class Meta:
        model = Broadcast
        fields = ["title", "text", "buttons", "photo", "segment_stages", "segment_streams", "segment_tags",
                  "segment_gender", "segment_language", "segment_active_within_days", "segment_consented_only",
                  "scheduled_at", "counts_against_budget"]
        widgets = {"text": forms.Textarea(attrs={"rows": 10, "cols": 80})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["buttons"] = buttons_to_lines(self.instance.buttons)

    def clean_buttons(self):
        return buttons_from_lines(self.cleaned_data.get("buttons", ""))

    def clean_photo(self):
        photo = self.cleaned_data.get("photo")
        if photo and hasattr(photo, "size") and getattr(photo, "content_type", None) is not None:
            if not photo.name.lower().endswith(PHOTO_EXTENSIONS):
                raise ValidationError(_("Фото: JPEG, PNG или WebP."))
            if photo.size > PHOTO_MAX_BYTES:
                raise ValidationError(_("Фото больше 10 МБ: Telegram его не примет."))
        return photo

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and self.instance.status not in EDITABLE and self.changed_data:
            raise ValidationError(_("Рассылка уже отправляется или завершена: её нельзя изменить."))
        try:  # the same rules, and messages, as the API and the services
            broadcast_validate(text=cleaned.get("text", ""), buttons=cleaned.get("buttons", []),
                               has_photo=bool(cleaned.get("photo")))
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                if field in cleaned:  # a field that failed on its own already says why
                    self.add_error(field, messages)
        return cleaned


class StaffTelegramAccountForm(forms.ModelForm):
    class Meta:
        model = StaffTelegramAccount
        fields = ["user", "telegram_id"]

    def clean_telegram_id(self):
        value = self.cleaned_data["telegram_id"]
        if value <= 0:
            raise ValidationError(_("Telegram ID личного аккаунта — положительное число."))
        return value
