"""What the broadcast composer's right column shows for a form as it is, saved or not.

Reads only: the preview, Telegram's objections, the audience count, the local-time forecast
and whether (and how) sending may be offered. ``BroadcastAdmin`` renders it into the page and
returns it as JSON from ``compose_view`` while staff type.
"""

from __future__ import annotations

from django.utils import timezone

from . import selectors
from .rendering import check_buttons, check_text, preview_html
from .services.compose import NO_RECIPIENTS
from .services.local_time import check_local_time, forecast_text, local_forecast, sending_window


def segment_from_cleaned(cleaned: dict) -> selectors.Segment:
    """The audience on the (possibly unsaved, partly invalid) form: what validated counts."""
    def ids(name):
        return tuple(sorted(obj.pk for obj in cleaned.get(name) or ()))

    return selectors.Segment(
        stage_ids=ids("segment_stages"), stream_ids=ids("segment_streams"), tag_ids=ids("segment_tags"),
        gender=cleaned.get("segment_gender") or "", language=(cleaned.get("segment_language") or "").strip(),
        active_within_days=cleaned.get("segment_active_within_days"),
        consented_only=bool(cleaned.get("segment_consented_only")),
    )


def recipients_phrase(n: int) -> str:
    """«132 участникам» (dative, as in «Отправить 132 участникам?»)."""
    return f"{n} {'участнику' if n % 10 == 1 and n % 100 != 11 else 'участникам'}"


def compose_state(*, text: str, buttons, has_photo: bool, segment: selectors.Segment, local_time, local_date,
                  now=None) -> dict:
    """What the composer's right column shows for the form as it is now (saved or not)."""
    now = now or timezone.now()
    members = selectors.audience(segment=segment, now=now)
    count = members.count()
    state = {
        "html": str(preview_html(text, buttons, photo=has_photo)),
        "errors": check_text(text, has_photo=has_photo) + check_buttons(buttons),
        "count": count,
        "can_send": count > 0,
        "send_refusal": "" if count else NO_RECIPIENTS,
        "confirm": f"Отправить {recipients_phrase(count)}?",
        "forecast": "",
        "local_errors": [],
    }
    if local_time is None:
        return state
    window = sending_window()
    state["local_errors"] = check_local_time(local_time, window=window)
    if count and not state["local_errors"]:
        forecast = local_forecast(members=members, clock=local_time, day=local_date, now=now, window=window)
        state["forecast"] = forecast_text(forecast, today=timezone.localdate(now))
        when = f"{local_time:%H:%M} по местному времени"
        state["confirm"] = f"Отправить {recipients_phrase(count)} в {when} ({state['forecast']})?"
    return state
