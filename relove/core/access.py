"""Who may see and change what: the one place both the admin and the API ask.

Three layers, the same in the admin and the API:

1. **Model permissions** (Django's view/add/change/delete per model): a list or a page of a
   model needs ``view``, a create ``add``, an edit ``change``, an erasure ``delete``.
   :class:`RolePermission` applies them to every API view; the admin applies them natively.
2. **Personal-data permissions** on top, field by field (:data:`FIELD_PERMISSIONS`): the
   member's own words (conversation, activity-log content, crisis excerpts, quoted evidence)
   need ``bot.view_conversation``; what the product inferred about them (profiles, insights,
   profile topics behind recommendations) needs ``profiles.view_personal_data``.
3. With ``STAFF_2FA_REQUIRED=true`` an account holding a personal-data permission must have
   passed TOTP two-factor (``relove.core.otp``) before any personal-data permission counts.

Roles (groups) built from these permissions are in ``privacy/roles.py``.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import DjangoModelPermissions

CONVERSATION = "bot.view_conversation"
PERSONAL_DATA = "profiles.view_personal_data"
ANALYTICS = "privacy.view_analytics"
EXPORT = "privacy.export_member_data"
PERSONAL_PERMISSIONS = (CONVERSATION, PERSONAL_DATA, EXPORT)

# model label -> {field: permission needed to see it}. Fields not listed need only the
# model's view permission.
FIELD_PERMISSIONS: dict[str, dict[str, str]] = {
    "profiles.TelegramUser": {"last_summary": CONVERSATION},
    "profiles.PsychologicalProfile": {"summary": PERSONAL_DATA, "data": PERSONAL_DATA},
    "profiles.UserActivityLog": {"content": CONVERSATION},
    "bot.UserSession": {"summary": CONVERSATION},
    "bot.ConversationTurn": {"content": CONVERSATION, "quick_replies": CONVERSATION},
    "bot.CrisisAlert": {"excerpt": CONVERSATION},
    "bot.OutboundMessage": {"text": CONVERSATION},
    "journeys.JourneyProgress": {"evidence": CONVERSATION},
    "journeys.JourneyInsight": {"text": PERSONAL_DATA},
}


def needs_second_factor(user) -> bool:
    """True when this account must pass TOTP before its personal-data permissions count."""
    if not getattr(settings, "STAFF_2FA_REQUIRED", False) or not user.is_authenticated:
        return False
    return user.is_superuser or any(_has_raw(user, perm) for perm in PERSONAL_PERMISSIONS)


def _has_raw(user, perm: str) -> bool:
    return user.has_perm(perm)


def has_personal_permission(user, perm: str) -> bool:
    """``user.has_perm(perm)`` for a personal-data permission, honouring the 2FA requirement."""
    if not (user and user.is_authenticated and user.is_active and user.is_staff and user.has_perm(perm)):
        return False
    if needs_second_factor(user):
        return bool(getattr(user, "is_verified", lambda: False)())
    return True


def can_see_field(user, model, field: str) -> bool:
    perm = FIELD_PERMISSIONS.get(model._meta.label, {}).get(field)
    return perm is None or has_personal_permission(user, perm)


def hidden_fields(user, model) -> set[str]:
    """The fields of ``model`` this staff account may not see."""
    return {f for f, perm in FIELD_PERMISSIONS.get(model._meta.label, {}).items()
            if not has_personal_permission(user, perm)}


class RolePermission(DjangoModelPermissions):
    """Django model permissions for every API view, reads included (``view_<model>``).

    A view may name the permissions of its custom actions in ``action_permissions``
    (``{"send": ["broadcasts.change_broadcast"]}``), or, without a queryset, per HTTP method
    in ``method_permissions``. Only active staff accounts pass at all.
    """

    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
            return True  # no such handler: let the view answer 405, not 403
        action = getattr(view, "action", None)
        explicit = getattr(view, "action_permissions", {})
        if action in explicit:
            return _has_all(user, explicit[action])
        by_method = getattr(view, "method_permissions", None)
        if by_method is not None:
            return _has_all(user, by_method.get(request.method, by_method.get("*", [])))
        return super().has_permission(request, view)


def _has_all(user, perms) -> bool:
    return all(has_personal_permission(user, p) if p in PERSONAL_PERMISSIONS else user.has_perm(p) for p in perms)


class PersonalFieldsMixin:
    """For ModelSerializers: leaves out the fields the requesting staff may not see."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for name in FIELD_PERMISSIONS.get(self.Meta.model._meta.label, {}):
            if name in data and not (user and can_see_field(user, self.Meta.model, name)):
                del data[name]
        return data
