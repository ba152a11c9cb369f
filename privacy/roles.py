"""The staff roles shipped with the product: Django groups built from model permissions.

What each permission *allows* is defined once in ``relove/core/access.py``; this module only
says which permissions each role holds. Groups are created by a data migration and topped up
after every ``migrate`` (missing permissions are added, nothing staff changed is removed).
"""

from __future__ import annotations

from relove.core import access


def _model(label: str, *actions: str) -> list[str]:
    app, model = label.split(".")
    return [f"{app}.{action}_{model.lower()}" for action in actions]


CURATOR = "Куратор"
CONTENT_EDITOR = "Редактор контента"
BROADCASTS = "Рассылки"
ANALYST = "Аналитик"
ADMINISTRATOR = "Администратор"

ROLES: dict[str, list[str]] = {
    # Members, their conversations and crisis work.
    CURATOR: [
        *_model("profiles.TelegramUser", "view", "change"),
        *_model("profiles.MemberTag", "view", "add", "change"),
        *_model("profiles.PsychologicalProfile", "view"),
        *_model("profiles.UserActivityLog", "view"),
        *_model("profiles.UserInteraction", "view"),
        *_model("bot.UserSession", "view"),
        *_model("bot.ConversationTurn", "view"),
        *_model("bot.CrisisAlert", "view", "change"),
        *_model("bot.CrisisNote", "view", "add"),
        *_model("bot.MemberFlagChange", "view", "add"),
        *_model("bot.CrisisContact", "view"),
        *_model("bot.DailyMessageSlot", "view"),
        *_model("journeys.JourneyStage", "view"),
        *_model("journeys.JourneyProgress", "view", "add"),
        *_model("journeys.JourneyInsight", "view"),
        *_model("journeys.Stream", "view"),
        *_model("journeys.StreamEnrollment", "view"),
        *_model("journeys.StreamStepDelivery", "view"),
        *_model("triggers.ProactiveTrigger", "view", "change"),
        *_model("core.StaffTask", "view"),
        access.CONVERSATION, access.PERSONAL_DATA, access.EXPORT,
    ],
    # Natasha's words and the content members move through.
    CONTENT_EDITOR: [
        *_model("bot.PersonaPrompt", "view", "add", "change"),
        *_model("bot.MessageTemplate", "view", "add", "change", "delete"),
        *_model("bot.CrisisContact", "view", "add", "change"),
        *_model("journeys.JourneyStage", "view", "change"),
        *_model("journeys.Stream", "view", "add", "change", "delete"),
        *_model("journeys.StreamStep", "view", "add", "change", "delete"),
    ],
    BROADCASTS: [
        *_model("broadcasts.Broadcast", "view", "add", "change"),
        *_model("broadcasts.BroadcastDelivery", "view"),
        *_model("broadcasts.SavedSegment", "view", "add", "change", "delete"),
        *_model("broadcasts.StaffTelegramAccount", "view", "add", "change"),
        *_model("core.StaffTask", "view"),
        *_model("journeys.JourneyStage", "view"),
        *_model("journeys.Stream", "view"),
        *_model("profiles.MemberTag", "view"),
    ],
    # Aggregates only: no member, no personal data.
    ANALYST: [access.ANALYTICS],
}
# «Администратор» holds every permission there is (rules, erasure, staff accounts…).
ALL_PERMISSIONS = "__all__"
ROLES[ADMINISTRATOR] = [ALL_PERMISSIONS]


def roles_sync(*, group_model, permission_model, strict: bool = True) -> int:
    """Create the role groups and add the permissions they lack; returns permissions added.

    Takes the models as arguments so the data migration can pass its historical ones.
    ``strict`` raises on a permission that does not exist (a typo in ROLES); the top-up after
    ``migrate`` is lenient, since it runs before every app's permissions exist.
    """
    added = 0
    for name, perms in ROLES.items():
        group, _ = group_model.objects.get_or_create(name=name)
        if perms == [ALL_PERMISSIONS]:
            wanted = list(permission_model.objects.all())
        else:
            wanted = []
            for perm in perms:
                app_label, codename = perm.split(".")
                found = permission_model.objects.filter(content_type__app_label=app_label, codename=codename).first()
                if found is None and not strict:
                    continue
                if found is None:
                    raise LookupError(f"role {name}: permission {perm} does not exist")
                wanted.append(found)
        have = set(group.permissions.values_list("pk", flat=True))
        missing = [p for p in wanted if p.pk not in have]
        group.permissions.add(*missing)
        added += len(missing)
    return added


def roles_top_up(sender=None, **kwargs) -> None:
    """post_migrate: give the roles permissions that appeared since (new models, new apps)."""
    from django.contrib.auth.models import Group, Permission

    roles_sync(group_model=Group, permission_model=Permission, strict=False)
