"""Staff accounts: a password change or deactivation revokes every refresh token at once;
a login starts the absolute admin-session clock. Admin history names a member's rows by id."""

import time

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.signals import user_logged_in
from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_init, post_save, pre_save
from django.dispatch import receiver

from relove.core.management.commands.ensure_admin import ADMIN_PASSWORD_FILE

from .auth import tokens_revoke
from .introspection import member_models

SESSION_LOGIN_AT = "privacy_login_at"


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="privacy.remember_credentials")
def _remember_credentials(sender, instance, **kwargs):
    if instance.pk is None:
        return
    old = sender._base_manager.filter(pk=instance.pk).values("password", "is_active").first()
    instance._privacy_revoke = bool(old) and (old["password"] != instance.password
                                              or (old["is_active"] and not instance.is_active))


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="privacy.revoke_tokens")
def _revoke_tokens(sender, instance, created, **kwargs):
    if not created and getattr(instance, "_privacy_revoke", False):
        tokens_revoke(user=instance)
        instance._privacy_revoke = False


@receiver(user_logged_in, dispatch_uid="privacy.session_login_at")
def _session_login_at(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_LOGIN_AT] = int(time.time())


@receiver(user_logged_in, dispatch_uid="privacy.forget_generated_password")
def _forget_generated_password(sender, request, user, **kwargs):
    """The generated admin password is on disk only until that account first logs in."""
    path = settings.VAR_DIR / ADMIN_PASSWORD_FILE
    try:
        first_line = path.read_text().split("\n", 1)[0]
    except OSError:
        return
    if first_line == user.get_username():
        path.unlink(missing_ok=True)


@receiver(post_init, sender=LogEntry, dispatch_uid="privacy.neutral_admin_log_repr")
def _neutral_admin_log_repr(sender, instance, **kwargs):
    """The admin history of a member's rows says "участник #12", not "@username": erasure deletes
    these entries, but a deleted row's bytes stay in the database files (dead tuples, WAL) until
    overwritten, so they must hold nothing in clear. On ``post_init``, not ``pre_save``: the
    admin logs a multi-row action with ``bulk_create``, which sends no save signals."""
    if not instance.content_type_id or "object_repr" not in instance.__dict__:
        return
    model = ContentType.objects.get_for_id(instance.content_type_id).model_class()
    if model is not None and model in member_models():
        instance.object_repr = f"{model._meta.verbose_name} #{instance.object_id}"
