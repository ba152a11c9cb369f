"""Reads over members and profiles: who is due for a profile rotation, version diffs."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from relove.core.precompiled import Precompiled

from .models import PsychologicalProfile, TelegramUser, UserActivityLog

ACTIVE_WINDOW = timedelta(days=30)
PROFILE_MAX_AGE = timedelta(days=7)
# What the member did (not what the bot sent them): only this counts as "new activity".
MEMBER_ACTIVITY_KINDS = (UserActivityLog.Kind.MESSAGE_IN, UserActivityLog.Kind.BUTTON,
                         UserActivityLog.Kind.COMMAND)
PROFILE_LIST_FIELDS = ("traits", "interests", "goals", "pains", "recommended_streams")


# Read on every conversational turn: compiled once per process (relove.core.precompiled).
LATEST_PROFILE = Precompiled(
    lambda user_id: PsychologicalProfile.objects.filter(user_id=user_id).order_by("-version")[:1], user_id=int)


def profile_latest(*, user: TelegramUser) -> PsychologicalProfile | None:
    return LATEST_PROFILE.first(user_id=user.pk)


def profile_data(profile: PsychologicalProfile | None) -> dict:
    """A profile's structured data (interests, pains, goals, …); ``{}`` for no profile or odd data."""
    data = profile.data if profile is not None else None
    return data if isinstance(data, dict) else {}


def profiles_due(*, now: datetime | None = None, run_key: str = "") -> QuerySet[TelegramUser]:
    """Members whose profile the daily rotation refreshes (SPEC R6), in one query.

    Consented AND active in the last 30 days AND (no profile yet OR the latest profile is
    older than 7 days OR the member did something after it was built). With ``run_key``,
    members already rotated by that run are left out, which makes a re-run resume.
    """
    now = now or timezone.now()
    latest = PsychologicalProfile.objects.filter(user=OuterRef("pk")).order_by("-version")
    members = (
        TelegramUser.objects.filter(consent_at__isnull=False, last_activity_at__gte=now - ACTIVE_WINDOW)
        .annotate(latest_profile_at=Subquery(latest.values("generated_at")[:1]))
        .annotate(active_since_profile=Exists(UserActivityLog.objects.filter(
            user=OuterRef("pk"), kind__in=MEMBER_ACTIVITY_KINDS, created_at__gt=OuterRef("latest_profile_at"))))
        .filter(Q(latest_profile_at__isnull=True) | Q(latest_profile_at__lt=now - PROFILE_MAX_AGE)
                | Q(active_since_profile=True))
    )
    if run_key:
        members = members.exclude(Exists(PsychologicalProfile.objects.filter(user=OuterRef("pk"),
                                                                             rotation_key=run_key)))
    return members.order_by("id")


def profile_diff(old: PsychologicalProfile, new: PsychologicalProfile) -> list[tuple[str, str, str]]:
    """What changed between two versions: (field, removed/before, added/after) rows."""
    rows: list[tuple[str, str, str]] = []
    if old.summary != new.summary:
        rows.append(("summary", old.summary, new.summary))
    if old.light_shadow_balance != new.light_shadow_balance:
        rows.append(("light_shadow_balance", str(old.light_shadow_balance), str(new.light_shadow_balance)))
    before, after = old.data or {}, new.data or {}
    for field in PROFILE_LIST_FIELDS:
        was = [str(v) for v in before.get(field, [])]
        now_ = [str(v) for v in after.get(field, [])]
        removed = [v for v in was if v not in now_]
        added = [v for v in now_ if v not in was]
        if removed or added:
            rows.append((field, ", ".join(f"− {v}" for v in removed), ", ".join(f"+ {v}" for v in added)))
    return rows
