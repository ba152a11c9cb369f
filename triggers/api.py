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

    def validate(self, attrs):
        """The windows must not be empty, judged with the values a partial update keeps."""
        merged = {field: attrs.get(field, getattr(self.instance, field, None))
                  for field in ("window_start", "window_end", "morning_start", "morning_end")}
        if merged["window_start"] >= merged["window_end"]:
            raise serializers.ValidationError({"window_end": "Must be later than window_start (same day)."})
        if merged["morning_start"] >= merged["morning_end"]:
            raise serializers.ValidationError({"morning_end": "Must be later than morning_start."})
        for field in ("inactivity_after", "min_interval"):
            if field in attrs and attrs[field].total_seconds() < 0:
                raise serializers.ValidationError({field: "Must not be negative."})
        if "inactivity_after" in attrs and attrs["inactivity_after"].total_seconds() < 60:
            raise serializers.ValidationError({"inactivity_after": "At least one minute."})
        return attrs

    def update(self, instance, validated_data):
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
