"""Staff API: the proactivity rules and the trigger queue. Views parse input and call services."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import ProactiveTrigger, ProactivityConfig
from .selectors import triggers_list
from .services.config import proactivity_config_update


def _hhmm():
    return serializers.TimeField(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"])


class ProactivityConfigSerializer(serializers.ModelSerializer):
    # Plain integers: the ranges are the model's (checked by the service's full_clean), so the
    # API answers with the admin's words instead of DRF's copy of the same limits.
    max_per_day = serializers.IntegerField()
    fatigue_multiplier = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    active_days = serializers.IntegerField()
    window_start = _hhmm()
    window_end = _hhmm()
    morning_start = _hhmm()
    morning_end = _hhmm()

    class Meta:
        model = ProactivityConfig
        fields = [
            "enabled", "max_per_day", "window_start", "window_end", "default_timezone", "inactivity_after",
            "min_interval", "active_days", "morning_start", "morning_end", "stream_invite_days_before",
            "fatigue_threshold", "fatigue_multiplier", "max_attempts",
            "inactivity_enabled", "stage_completed_enabled", "avoidance_enabled", "morning_checkin_enabled",
            "stream_step_enabled", "stream_invite_enabled", "updated_at",
        ]
        read_only_fields = ["updated_at"]

    def update(self, instance, validated_data):
        # The rules live in ``ProactivityConfig.clean`` (the admin form checks the same ones).
        try:
            return proactivity_config_update(changes=validated_data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict)


class ProactivityConfigView(APIView):
    """The proactivity rules (one object). PATCH changes them; the next scan applies them."""

    serializer_class = ProactivityConfigSerializer
    method_permissions = {"GET": ["triggers.view_proactivityconfig"], "HEAD": ["triggers.view_proactivityconfig"],
                          "OPTIONS": ["triggers.view_proactivityconfig"],
                          "PATCH": ["triggers.change_proactivityconfig"], "PUT": ["triggers.change_proactivityconfig"]}

    def get(self, request):
        return Response(ProactivityConfigSerializer(ProactivityConfig.load()).data)

    @extend_schema(request=ProactivityConfigSerializer, responses=ProactivityConfigSerializer)
    def patch(self, request):
        serializer = ProactivityConfigSerializer(ProactivityConfig.load(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        return Response(ProactivityConfigSerializer(serializer.save()).data)

    @extend_schema(request=ProactivityConfigSerializer, responses=ProactivityConfigSerializer)
    def put(self, request):
        serializer = ProactivityConfigSerializer(ProactivityConfig.load(), data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(ProactivityConfigSerializer(serializer.save()).data)


class ProactiveTriggerSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProactiveTrigger
        fields = ["id", "user", "kind", "status", "scheduled_for", "sent_at", "attempts", "answered_at",
                  "last_error", "created_at"]
        read_only_fields = fields


class ProactiveTriggerFilter(django_filters.FilterSet):
    user = django_filters.NumberFilter(field_name="user_id")
    status = django_filters.ChoiceFilter(choices=ProactiveTrigger.Status.choices)
    kind = django_filters.ChoiceFilter(choices=ProactiveTrigger.Kind.choices)

    class Meta:
        model = ProactiveTrigger
        fields = ["user", "status", "kind"]


class ProactiveTriggerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The trigger queue, newest scheduled first; filter with `?user=`, `?status=`, `?kind=`."""

    queryset = triggers_list()
    serializer_class = ProactiveTriggerSerializer
    filterset_class = ProactiveTriggerFilter
