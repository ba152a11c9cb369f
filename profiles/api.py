import django_filters
from django.db.models import Q
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from relove.core.access import PERSONAL_DATA, PersonalFieldsMixin

from .models import PsychologicalProfile, TelegramUser
from .selectors import profile_diff
from .services import member_update_settings


class TelegramUserSerializer(serializers.ModelSerializer):
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    # Encrypted columns are text columns to Django: say what they hold.
    telegram_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)

    class Meta:
        model = TelegramUser
        fields = [
            "id", "telegram_id", "username", "first_name", "language_code", "timezone",
            "proactive_enabled", "is_paused", "is_blocked", "crisis_flag", "journey_stage",
            "gender", "tags", "consent_at", "messages_count", "last_activity_at", "created_at",
        ]
        read_only_fields = [f for f in fields if f not in ("timezone", "proactive_enabled", "is_paused")]

    def update(self, instance, validated_data):
        # The time zone is checked by the model field's validator (as in the admin) and the service.
        return member_update_settings(user=instance, **validated_data)


class TelegramUserFilter(django_filters.FilterSet):
    # Both compare keyed digests (the id and the names are encrypted at rest).
    telegram_id = django_filters.NumberFilter(label="Telegram ID")
    search = django_filters.CharFilter(
        method="filter_search", label="Имя, фамилия, @username (целые слова) или Telegram ID")

    def filter_search(self, queryset, name, value):
        for word in value.split():
            queryset = queryset.filter(Q(telegram_id=word) | Q(search_tokens__matches=word))
        return queryset

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


class PsychologicalProfileSerializer(PersonalFieldsMixin, serializers.ModelSerializer):
    # The encrypted column is a text column to Django: without this, DRF renders a Python repr.
    data = serializers.JSONField(read_only=True)

    class Meta:
        model = PsychologicalProfile
        fields = ["id", "user", "version", "generated_at", "generated_by", "rotation_key", "light_shadow_balance",
                  "source_log_count", "summary", "data"]


class PsychologicalProfileViewSet(viewsets.ReadOnlyModelViewSet):
    """Profile versions per member (read-only); filter ``?user=``. Content needs the personal-data right."""

    queryset = PsychologicalProfile.objects.order_by("user_id", "-version")
    serializer_class = PsychologicalProfileSerializer
    filterset_fields = ["user", "generated_by"]
    action_permissions = {"diff": ["profiles.view_psychologicalprofile", PERSONAL_DATA]}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def diff(self, request, pk=None):
        """What changed from the member's previous version to this one."""
        profile = self.get_object()
        previous = (PsychologicalProfile.objects.filter(user=profile.user_id, version__lt=profile.version)
                    .order_by("-version").first())
        rows = profile_diff(previous, profile) if previous else []
        return Response({"version": profile.version, "previous_version": previous.version if previous else None,
                         "changes": [{"field": f, "before": b, "after": a} for f, b, a in rows]})
