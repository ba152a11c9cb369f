"""The Bot API client's HTTP layer, telling the staff dashboard what Telegram's answers show.

Every request of the bot (polling, replies, proactive sends) goes through :class:`WatchedRequest`:
a successful ``getUpdates`` is the bot's "last poll", any answer other than 401/404 proves the
token is accepted, and a 401/404 marks it rejected at once (``relove.core.liveness``).
"""

from __future__ import annotations

from telegram.request import HTTPXRequest

from relove.core import liveness

# Telegram answers 401 for a revoked token and 404 for a malformed one, whatever the method.
TOKEN_REJECTED = (401, 404)


def heartbeats_for(method: str, code: int) -> list[tuple[str, bool, str]]:
    """What one Bot API answer says about the bot and its token: ``(component, ok, detail)``."""
    if code in TOKEN_REJECTED:
        return [(liveness.TELEGRAM, False, f"Telegram ответил {code}: токен не принят")]
    beats = [(liveness.TELEGRAM, True, "Telegram принимает токен")] if code < 500 else []
    if method == "getUpdates" and code == 200:
        beats.append((liveness.BOT, True, "опрос Telegram (getUpdates)"))
    return beats


class WatchedRequest(HTTPXRequest):
    async def do_request(self, url: str, method: str, *args, **kwargs) -> tuple[int, bytes]:
        code, payload = await super().do_request(url, method, *args, **kwargs)
        for name, ok, detail in heartbeats_for(url.rsplit("/", 1)[-1], code):
            liveness.note(name, ok=ok, detail=detail)
        return code, payload
