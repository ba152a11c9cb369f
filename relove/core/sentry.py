"""Optional error reporting to Sentry (``SENTRY_DSN``), with personal data scrubbed before sending.

What may leave the machine: the exception's type, the stack (file, function, line) and the
release. What never does: local variables, request bodies, headers, cookies, user, messages
and breadcrumbs (a breadcrumb can quote a log line; an exception message can quote a member).
"""

from __future__ import annotations

from typing import Any

KEPT_TOP_LEVEL = ("event_id", "timestamp", "platform", "level", "logger", "release", "environment", "exception",
                  "tags", "server_name", "sdk", "contexts", "modules", "transaction")


def scrub(event: dict[str, Any], hint: dict | None = None) -> dict[str, Any]:
    """``before_send``: keep the shape of the failure, drop everything that could carry personal data."""
    clean = {key: event[key] for key in KEPT_TOP_LEVEL if key in event}
    exception = clean.get("exception") or {}
    for value in exception.get("values", []) or []:
        value["value"] = ""  # the message may quote a member or a token
        for frame in (value.get("stacktrace") or {}).get("frames", []) or []:
            frame.pop("vars", None)
            frame.pop("pre_context", None)
            frame.pop("context_line", None)
            frame.pop("post_context", None)
    contexts = clean.get("contexts") or {}
    clean["contexts"] = {k: v for k, v in contexts.items() if k in ("runtime", "os", "trace")}
    return clean


def init(dsn: str, *, environment: str) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(dsn=dsn, environment=environment, send_default_pii=False, include_local_variables=False,
                    max_breadcrumbs=0, before_send=scrub, before_send_transaction=lambda event, hint: None,
                    integrations=[DjangoIntegration(), CeleryIntegration()])
