"""The one outbound path for everything the bot sends on its own.

Proactive messages, stream steps, broadcasts, staff alerts and test sends all end here:
``rows.claim`` takes a row ``pending → sending`` before anything is sent, ``transport`` makes
the Bot API call under the shared rate limit and classifies the answer, ``policy.next_step``
says what the answer means (sent, blocked, retry at, failed, unknown), ``rows.sweep_stuck``
repairs what a dead worker left. Each caller keeps only what is its own: what to send, to
whom, in what batches, and how its table spells the states.
"""

from .policy import Backoff, Next, Step, next_step
from .rows import claim, sweep_stuck
from .transport import (
    BotSession,
    Delivery,
    Outcome,
    OutgoingPhoto,
    build_bot,
    classify,
    reply_markup,
    send,
    send_limited,
    send_message,
)

__all__ = [
    "Backoff", "BotSession", "Delivery", "Next", "Outcome", "OutgoingPhoto", "Step", "build_bot", "claim",
    "classify", "next_step", "reply_markup", "send", "send_limited", "send_message", "sweep_stuck",
]
