"""``/api/v1/broadcasts/``: staff create, read, send, schedule and cancel broadcasts."""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from journeys.models import JourneyStage, Stream
from profiles.models import MemberTag

from . import selectors, services
from .models import Broadcast
from .services.local_time import check_local_time

COUNT_FIELDS = ["total", "sent", "failed", "blocked", "pending", "unknown"]


class BroadcastSerializer(serializers.ModelSerializer):
    segment_stages = serializers.SlugRelatedField(
        many=True, slug_field="order", queryset=JourneyStage.objects.all(), required=False,
        help_text="Journey stage orders (1–12).")
    segment_streams = serializers.PrimaryKeyRelatedField(many=True, queryset=Stream.objects.all(), required=False)
    segment_tags = serializers.SlugRelatedField(many=True, slug_field="name", queryset=MemberTag.objects.all(),
                                                required=False)
    total = serializers.IntegerField(read_only=True)
    sent = serializers.IntegerField(read_only=True)
    failed = serializers.IntegerField(read_only=True)
    blocked = serializers.IntegerField(read_only=True)
    pending = serializers.IntegerField(read_only=True, help_text="Not delivered yet: queued or being sent.")
    unknown = serializers.IntegerField(read_only=True, help_text="A worker died mid-send: maybe delivered.")

    class Meta:
        model = Broadcast
        fields = ["id", "title", "text", "buttons", "status", "scheduled_at", "counts_against_budget",
                  "local_time", "local_date", "segment_stages", "segment_streams", "segment_tags",
                  "segment_gender", "segment_language", "segment_active_within_days", "segment_consented_only",
                  *COUNT_FIELDS, "created_at", "started_at", "finished_at", "cancelled_at"]
        read_only_fields = ["status", "scheduled_at", "created_at", "started_at", "finished_at", "cancelled_at"]

    def validate(self, attrs):
        """The rules are ``broadcast_validate``'s (the admin form calls it too), with a partial edit's
        missing fields taken from the stored broadcast."""
        try:
            services.broadcast_validate(text=attrs.get("text", getattr(self.instance, "text", "")),
                                        buttons=attrs.get("buttons", getattr(self.instance, "buttons", [])),
                                        has_photo=bool(self.instance and self.instance.photo))
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict)
        if problems := check_local_time(attrs.get("local_time")):
            raise serializers.ValidationError({"local_time": problems})
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data.get("total") is None:  # not annotated (just created or updated): count now
            counts = selectors.delivery_counts(broadcast_id=instance.pk)
            data.update({name: counts[name] for name in COUNT_FIELDS})
        return data

    def create(self, validated_data):
        return services.broadcast_create(
            title=validated_data["title"], text=validated_data["text"], buttons=validated_data.get("buttons", []),
            created_by=self.context["request"].user,
            counts_against_budget=validated_data.get("counts_against_budget", False),
            local_time=validated_data.get("local_time"), local_date=validated_data.get("local_date"),
            stage_ids=[s.pk for s in validated_data.get("segment_stages", [])],
            stream_ids=[s.pk for s in validated_data.get("segment_streams", [])],
            tag_ids=[t.pk for t in validated_data.get("segment_tags", [])],
            gender=validated_data.get("segment_gender", ""), language=validated_data.get("segment_language", ""),
            active_within_days=validated_data.get("segment_active_within_days"),
            consented_only=validated_data.get("segment_consented_only", True),
        )

    def update(self, instance, validated_data):
        relations = {name: validated_data.pop(name) for name in ("segment_stages", "segment_streams", "segment_tags")
                     if name in validated_data}
        for name, value in validated_data.items():
            setattr(instance, name, value)
        services.broadcast_save(broadcast=instance)
        for name, value in relations.items():
            getattr(instance, name).set(value)
        return instance


class ScheduleSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField(required=False, help_text="Send at this time; omit to send now.")


class BroadcastFilter(django_filters.FilterSet):
    class Meta:
        model = Broadcast
        fields = ["status"]


class Conflict(APIException):
    """The broadcast is in a state that does not allow this (e.g. editing one that is sending)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


CONFLICT = inline_serializer("BroadcastConflict", {"detail": serializers.CharField()})


class BroadcastViewSet(mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Broadcasts with delivery counts. Drafts can be edited; `send/` starts or schedules one,
    `cancel/` stops it (messages already accepted by Telegram cannot be recalled)."""

    serializer_class = BroadcastSerializer
    filterset_class = BroadcastFilter
    # Sending and cancelling change a broadcast (relove.core.access.RolePermission).
    action_permissions = {"send": ["broadcasts.change_broadcast"], "cancel": ["broadcasts.change_broadcast"]}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return selectors.broadcasts_with_counts().prefetch_related(
            "segment_stages", "segment_streams", "segment_tags").order_by("-created_at")

    def perform_update(self, serializer):
        try:
            serializer.save()
        except services.BroadcastError as exc:
            raise Conflict(str(exc))

    @extend_schema(request=ScheduleSerializer, responses={202: BroadcastSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Send now, or at `scheduled_at` when given (picked up by the beat job)."""
        broadcast = self.get_object()
        params = ScheduleSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            if params.validated_data.get("scheduled_at"):
                services.broadcast_schedule(broadcast_id=broadcast.pk, at=params.validated_data["scheduled_at"])
            else:
                services.broadcast_send_now(broadcast_id=broadcast.pk)
        except (services.BroadcastError, DjangoValidationError) as exc:
            raise Conflict(str(exc))
        return Response(self.get_serializer(self.get_queryset().get(pk=broadcast.pk)).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: BroadcastSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        broadcast = self.get_object()
        if not services.broadcast_cancel(broadcast_id=broadcast.pk):
            raise Conflict("Рассылка уже завершена или отменена.")
        return Response(self.get_serializer(self.get_queryset().get(pk=broadcast.pk)).data)
