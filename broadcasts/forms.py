"""Admin forms: buttons edited as a list of rows; everything is checked as Telegram would."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.widgets import BUTTON_CLASSES, INPUT_CLASSES, SELECT_CLASSES, UnfoldAdminCheckboxSelectMultipleWidget

from .models import Broadcast, SavedSegment, StaffTelegramAccount
from .rendering import MAX_BUTTONS, PHOTO_MAX_BYTES
from .services.compose import EDITABLE, broadcast_validate
from .services.local_time import check_local_time

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
BUTTONS_HELP = _(
    "Кнопка-ссылка открывает адрес (https://…). Быстрый ответ: нажатие бот поймёт так, будто участник "
    "написал этот ответ (пусто — текст кнопки).")
BUTTON_KINDS = [("reply", _("быстрый ответ")), ("url", _("ссылка"))]


def buttons_from_rows(labels: list[str], kinds: list[str], targets: list[str]) -> list[dict]:
    """Button dicts from the list editor's rows; a row with neither text nor target is dropped."""
    buttons = []
    for label, kind, target in zip(labels, kinds, targets, strict=False):
        label, target = label.strip(), target.strip()
        if not label and not target:
            continue
        if kind == "url":
            buttons.append({"text": label, "url": target})
        else:
            buttons.append({"text": label, "reply": target or label})
    return buttons


class ButtonListWidget(forms.Widget):
    """Buttons as rows of «text · link or quick reply · target» with add/remove, not a JSON box."""

    template_name = "broadcasts/widgets/button_list.html"

    def value_from_datadict(self, data, files, name):
        return buttons_from_rows(data.getlist(f"{name}_text"), data.getlist(f"{name}_kind"),
                                 data.getlist(f"{name}_target"))

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_text" not in data

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        rows = []
        for button in value if isinstance(value, list) else []:
            if isinstance(button, dict):
                is_url = bool(button.get("url"))
                rows.append({"text": button.get("text", ""), "kind": "url" if is_url else "reply",
                             "target": button.get("url") if is_url else button.get("reply", "")})
        context["widget"].update(rows=rows, kinds=BUTTON_KINDS, max_buttons=MAX_BUTTONS,
                                 input_class=" ".join(INPUT_CLASSES), select_class=" ".join(SELECT_CLASSES),
                                 button_class=" ".join(BUTTON_CLASSES))
        return context


class ButtonListField(forms.Field):
    widget = ButtonListWidget

    def to_python(self, value):
        return value if isinstance(value, list) else []

    def prepare_value(self, value):
        return value if isinstance(value, list) else []

    def has_changed(self, initial, data):
        return self.to_python(initial) != self.to_python(data)


def _input(widget_class, **attrs):
    return widget_class(attrs={"class": " ".join(INPUT_CLASSES), **attrs})


class BroadcastForm(forms.ModelForm):
    buttons = ButtonListField(label=_("Кнопки"), required=False, help_text=BUTTONS_HELP)
    saved_segment = forms.ModelChoiceField(
        SavedSegment.objects.all(), required=False, label=_("Сегмент"), empty_label=_("— свой набор условий —"),
        help_text=_("Выберите сохранённый сегмент: условия ниже заполнятся из него."),
        widget=forms.Select(attrs={"class": " ".join(SELECT_CLASSES)}))

    class Meta:
        model = Broadcast
        fields = ["title", "text", "buttons", "photo", "segment_stages", "segment_streams", "segment_tags",
                  "segment_gender", "segment_language", "segment_active_within_days", "segment_consented_only",
                  "scheduled_at", "local_time", "local_date", "counts_against_budget"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 8, "cols": 80}),
            "segment_stages": UnfoldAdminCheckboxSelectMultipleWidget,
            "segment_streams": UnfoldAdminCheckboxSelectMultipleWidget,
            "segment_tags": UnfoldAdminCheckboxSelectMultipleWidget,
            # A wall-clock time and a calendar day in the member's zone: not moments in the
            # staff member's zone, so no "you are N hours ahead" note and no «Сейчас» shortcut.
            "local_time": _input(forms.TimeInput, type="time"),
            "local_date": _input(forms.DateInput, type="date"),
        }

    def clean_local_time(self):
        clock = self.cleaned_data.get("local_time")
        if problems := check_local_time(clock):
            raise ValidationError(problems)
        return clock

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


class SavedSegmentForm(forms.ModelForm):
    class Meta:
        model = SavedSegment
        fields = ["name", "stages", "streams", "tags", "gender", "language", "active_within_days", "consented_only"]
        widgets = {"stages": UnfoldAdminCheckboxSelectMultipleWidget,
                   "streams": UnfoldAdminCheckboxSelectMultipleWidget,
                   "tags": UnfoldAdminCheckboxSelectMultipleWidget}


class StaffTelegramAccountForm(forms.ModelForm):
    class Meta:
        model = StaffTelegramAccount
        fields = ["user", "telegram_id"]

    def clean_telegram_id(self):
        value = self.cleaned_data["telegram_id"]
        if value <= 0:
            raise ValidationError(_("Telegram ID личного аккаунта — положительное число."))
        return value
