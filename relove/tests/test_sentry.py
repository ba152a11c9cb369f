"""Sentry receives the shape of a failure, never personal data."""

from relove.core.sentry import scrub


def test_scrub_keeps_the_stack_and_drops_everything_that_could_carry_personal_data():
    event = {
        "event_id": "e1", "level": "error", "release": "1.0.0",
        "exception": {"values": [{"type": "ValueError", "value": "member Ольга said: я боюсь",
                                  "stacktrace": {"frames": [{"filename": "bot/services/natasha.py", "function": "reply",
                                                             "lineno": 10, "vars": {"text": "я боюсь"},
                                                             "context_line": "text = 'я боюсь'"}]}}]},
        "request": {"data": {"message": "я боюсь"}, "headers": {"Cookie": "sessionid=1"}},
        "user": {"id": 7, "username": "olga"},
        "extra": {"telegram_id": 123},
        "breadcrumbs": {"values": [{"message": "update from Ольга"}]},
        "contexts": {"runtime": {"name": "CPython"}, "celery": {"args": ["Ольга"]}},
    }
    clean = scrub(event)
    flat = repr(clean)
    assert "Ольга" not in flat and "боюсь" not in flat and "olga" not in flat and "sessionid" not in flat
    frame = clean["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert (clean["exception"]["values"][0]["type"], frame["function"], frame["lineno"]) == ("ValueError", "reply", 10)
    assert set(clean) >= {"event_id", "level", "release", "exception"} and "request" not in clean
