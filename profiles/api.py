import zoneinfo

import django_filters
from rest_framework import mixins, serializers, viewsets

from .models import TelegramUser
from .services import member_update_settings


class TelegramUserSerializer(serializers.ModelSerializer):
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")

    class Meta:
        model = TelegramUser
        fields = [
            "id", "telegram_id", "username", "first_name", "language_code", "timezone",
            "proactive_enabled", "is_paused", "is_blocked", "crisis_flag", "journey_stage",
            "gender", "tags", "consent_at", "messages_count", "last_activity_at", "created_at",
        ]
        read_only_fields = [f for f in fields if f not in ("timezone", "proactive_enabled", "is_paused")]

    def validate_timezone(self, value):
        if value and value not in zoneinfo.available_timezones():
            raise serializers.ValidationError("Unknown IANA time zone.")
        return value

    def update(self, instance, validated_data):
        return member_update_settings(user=instance, **validated_data)


class TelegramUserFilter(django_filters.FilterSet):
    class Meta:
        model = TelegramUser
        fields = ["telegram_id", "journey_stage", "is_blocked", "is_paused", "proactive_enabled"]


class TelegramUserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                          viewsets.GenericViewSet):
    """Members. Staff may change only `timezone`, `proactive_enabled` and `is_paused`."""

    queryset = TelegramUser.objects.prefetch_related("tags").order_by("id")
    serializer_class = TelegramUserSerializer
    filterset_class = TelegramUserFilter
    http_method_names = ["get", "patch", "head", "options"]
