"""Members pressing a broadcast's quick-reply buttons."""

from __future__ import annotations

from profiles.models import TelegramUser, UserInteraction

from ..rendering import parse_button_callback, reply_text
from ..selectors import broadcast_button


def broadcast_button_pressed(*, user: TelegramUser, data: str) -> str | None:
    """Record a click on a broadcast's quick reply and return the text it stands for.

    The bot then handles that text exactly as if the member had typed it. None for callback
    data that is not a live broadcast quick reply (the caller answers "unknown button").
    """
    parsed = parse_button_callback(data)
    if parsed is None:
        return None
    broadcast_id, index = parsed
    button = broadcast_button(broadcast_id=broadcast_id, index=index)
    if button is None:
        return None
    UserInteraction.objects.create(user=user, kind=UserInteraction.Kind.BROADCAST_CLICKED, stage=user.journey_stage,
                                   metadata={"broadcast_id": broadcast_id, "button": index})
    return reply_text(button) or None
