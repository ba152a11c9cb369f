"""The proactivity rules as members read them: «с 8 до 22», «не чаще двух раз в день».

Every member-facing sentence about limits takes these phrases (the ``{window}`` and
``{daily_limit}`` placeholders of message templates), so changing the settings changes
what members are told. A per-process copy is cleared when the settings are saved.
"""

from __future__ import annotations

from datetime import time

from relove.core.process_cache import ProcessCached

from .models import ProactivityConfig

# Genitive after «не чаще»: «не чаще одного раза», «двух раз», … (the cap is 0–10).
_TIMES = {1: "одного раза", 2: "двух раз", 3: "трёх раз", 4: "четырёх раз", 5: "пяти раз", 6: "шести раз",
          7: "семи раз", 8: "восьми раз", 9: "девяти раз", 10: "десяти раз"}


def _clock(moment: time) -> str:
    return f"{moment.hour}" if moment.minute == 0 else f"{moment.hour}:{moment.minute:02d}"


def window_phrase(start: time, end: time) -> str:
    """«с 8 до 22», «с 9:30 до 21»."""
    return f"с {_clock(start)} до {_clock(end)}"


def daily_limit_phrase(max_per_day: int, *, enabled: bool = True) -> str:
    """«не чаще двух раз в день»; with the cap at 0 or proactivity off, «пока ни разу в день»."""
    if not enabled or max_per_day <= 0:
        return "пока ни разу в день"
    return f"не чаще {_TIMES.get(max_per_day, f'{max_per_day} раз')} в день"


def _load() -> dict[str, str]:
    # Read, never created here: a save inside the loader would clear this very cache under its lock.
    config = ProactivityConfig.objects.filter(pk=1).first() or ProactivityConfig()
    return {"window": window_phrase(config.window_start, config.window_end),
            "daily_limit": daily_limit_phrase(config.max_per_day, enabled=config.enabled)}


LIMIT_PHRASES = ProcessCached("proactivity-limit-phrases", _load, ProactivityConfig)


def limit_phrases() -> dict[str, str]:
    """``{"window": …, "daily_limit": …}`` from the current settings."""
    return dict(LIMIT_PHRASES.get())
