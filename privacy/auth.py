"""Staff authentication: JWT with an absolute lifetime and optional TOTP, revocation, logout,
admin login with a second factor, and the brute-force lockout response (django-axes).
"""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import update_last_login
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django_otp import devices_for_user
from rest_framework import serializers
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from .authentication import AUTH_TIME_CLAIM, OTP_CLAIM


def otp_verify(*, user, token: str):
    """The user's confirmed device that accepts ``token`` (throttled by django-otp), or None."""
    token = (token or "").strip()
    if not token:
        return None
    with transaction.atomic():
        for device in devices_for_user(user, for_verify=True):
            if device.verify_token(token):
                return device
    return None


def tokens_revoke(*, user) -> int:
    """Blacklist every outstanding refresh token of the account; returns how many."""
    revoked = 0
    for token in OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False):
        _, created = BlacklistedToken.objects.get_or_create(token=token)
        revoked += created
    return revoked


class AbsoluteRefreshToken(RefreshToken):
    """A refresh token that never outlives ``JWT_SESSION_MAX_DAYS`` from the password login,
    however often it is rotated (rotation alone would give every refresh a fresh lifetime)."""

    def set_exp(self, claim="exp", from_time=None, lifetime=None):
        super().set_exp(claim=claim, from_time=from_time, lifetime=lifetime)
        auth_time = self.payload.get(AUTH_TIME_CLAIM)
        if claim == "exp" and auth_time is not None:
            self.payload["exp"] = min(self.payload["exp"], int(auth_time + settings.JWT_SESSION_MAX_SECONDS))


class StaffTokenObtainSerializer(TokenObtainPairSerializer):
    """Password (+ ``otp_token`` when the account has a TOTP device) → refresh and access."""

    token_class = AbsoluteRefreshToken
    otp_token = serializers.CharField(required=False, allow_blank=True, write_only=True)

    def validate(self, attrs):
        # The base serializer authenticates (django-axes counts failures there) and sets self.user.
        try:
            super(TokenObtainPairSerializer, self).validate(attrs)
        except AuthenticationFailed:
            # axes flags the request it was given (DRF's), which its middleware never sees.
            if getattr(self.context.get("request"), "axes_locked_out", False):
                raise LockedOut(lockout_message()) from None
            raise
        device = otp_verify(user=self.user, token=attrs.get("otp_token", ""))
        if attrs.get("otp_token") and device is None:
            raise serializers.ValidationError({"otp_token": "Invalid or expired code."})
        refresh = self.get_token(self.user)
        if device is not None:
            refresh[OTP_CLAIM] = device.persistent_id
        update_last_login(None, self.user)
        return {"refresh": str(refresh), "access": str(refresh.access_token)}

    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        token[AUTH_TIME_CLAIM] = int(time.time())
        return token


class StaffTokenRefreshSerializer(TokenRefreshSerializer):
    token_class = AbsoluteRefreshToken

    def validate(self, attrs):
        if AUTH_TIME_CLAIM not in self.token_class(attrs["refresh"]).payload:
            raise InvalidToken("Token issued before absolute lifetimes; log in again.")
        return super().validate(attrs)


class _AuthThrottle(ScopedRateThrottle):
    scope_attr = "throttle_scope"


class StaffTokenObtainView(TokenObtainPairView):
    serializer_class = StaffTokenObtainSerializer
    throttle_classes = [_AuthThrottle]
    throttle_scope = "auth"


class StaffTokenRefreshView(TokenRefreshView):
    serializer_class = StaffTokenRefreshSerializer
    throttle_classes = [_AuthThrottle]
    throttle_scope = "auth"


class LogoutView(TokenBlacklistView):
    """POST ``{"refresh": …}``: the refresh token is blacklisted (its access token dies within
    JWT_ACCESS_MINUTES)."""

    throttle_classes = [_AuthThrottle]
    throttle_scope = "auth"


class StaffAdminLoginForm(AdminAuthenticationForm):
    """Admin login with an optional TOTP code: with it, personal-data permissions count when
    ``STAFF_2FA_REQUIRED`` is on (django-otp keeps the device in the session)."""

    otp_token = forms.CharField(label=_("Код из приложения (2FA)"), required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}))

    def clean(self):
        cleaned = super().clean()
        token = cleaned.get("otp_token")
        if self.user_cache is not None and token:
            device = otp_verify(user=self.user_cache, token=token)
            if device is None:
                raise forms.ValidationError(_("Неверный или устаревший код 2FA."), code="otp")
            self.user_cache.otp_device = device
        return cleaned


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (f"Слишком много неудачных попыток входа. Вход заблокирован на {minutes} мин. "
            "Разблокировать раньше может администратор («Axes» → «Попытки доступа» в админке).")


class LockedOut(APIException):
    status_code = 429
    default_code = "locked_out"


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """django-axes: too many failed logins. JSON for the API, a page for the admin."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": lockout_message(), "code": "locked_out"}, status=429)
    return render(request, "privacy/lockout.html", {"message": lockout_message()}, status=429)
