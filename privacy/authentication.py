"""The API's JWT authentication (kept apart from privacy.auth: DRF imports it while loading its settings)."""

from django_otp import devices_for_user
from rest_framework_simplejwt.authentication import JWTAuthentication

AUTH_TIME_CLAIM = "auth_time"
OTP_CLAIM = "otp_device"


class StaffJWTAuthentication(JWTAuthentication):
    """JWT, plus: the account's second factor counts only if the token says it was given."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        device_id = validated_token.get(OTP_CLAIM)
        device = None
        if device_id:
            device = next((d for d in devices_for_user(user) if d.persistent_id == device_id), None)
        user.otp_device = device
        user.is_verified = lambda: device is not None
        return user
