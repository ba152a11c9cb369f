"""Staff API over journeys (stages, stage history, a member's journey) and the stream catalogue."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from profiles.models import TelegramUser
from relove.core.access import PERSONAL_DATA, PersonalFieldsMixin, has_personal_permission

from . import selectors, services
from .models import STAGE_COUNT, JourneyProgress, JourneyStage, Stream, StreamStep
from .recommendations import stream_recommendations
from .tasks import analyse_member_later


class JourneyStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = JourneyStage
        fields = ["order", "name", "description", "style_prompt", "quick_replies", "first_question",
                  "min_confidence"]


class JourneyStageViewSet(viewsets.ReadOnlyModelViewSet):
    """The 12 stages of the hero's journey (edited in admin)."""

    queryset = JourneyStage.objects.order_by("order")
    serializer_class = JourneyStageSerializer
    lookup_field = "order"
    pagination_class = None


class JourneyProgressSerializer(PersonalFieldsMixin, serializers.ModelSerializer):
    stage = serializers.SlugRelatedField(slug_field="order", read_only=True)
    stage_name = serializers.CharField(source="stage.name", read_only=True)
    previous_stage = serializers.SlugRelatedField(slug_field="order", read_only=True)
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = JourneyProgress
        fields = ["id", "user", "stage", "stage_name", "previous_stage", "confidence", "source", "changed_by",
                  "reason", "evidence", "skipped_stages", "announced_at", "created_at"]


class JourneyProgressFilter(django_filters.FilterSet):
    stage = django_filters.NumberFilter(field_name="stage__order")

    class Meta:
        model = JourneyProgress
        fields = ["user", "source", "stage"]


class JourneyProgressViewSet(viewsets.ReadOnlyModelViewSet):
    """Stage history: one row per change (initial, by the analysis, by staff); filter ``?user=``."""

    queryset = JourneyProgress.objects.select_related("stage", "previous_stage", "changed_by").order_by(
        "-created_at", "-id")
    serializer_class = JourneyProgressSerializer
    filterset_class = JourneyProgressFilter


class SetStageSerializer(serializers.Serializer):
    stage = serializers.IntegerField(min_value=1, max_value=STAGE_COUNT)
    reason = serializers.CharField(max_length=services.REASON_MAX, allow_blank=False)
    notify = serializers.BooleanField(default=False, help_text="Send the member the congratulation with the indicator")


class JourneyMemberViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One member's journey: stage, progress within it, history, recommended streams with scores."""

    queryset = TelegramUser.objects.all()
    serializer_class = serializers.Serializer  # the response is built by hand below
    action_permissions = {
        "retrieve": ["profiles.view_telegramuser", "journeys.view_journeyprogress"],
        "set_stage": ["profiles.change_telegramuser", "journeys.add_journeyprogress"],
        "analyse": ["profiles.change_telegramuser"],
    }

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, *args, **kwargs):
        user = self.get_object()
        history = JourneyProgress.objects.filter(user=user).select_related(
            "stage", "previous_stage", "changed_by").order_by("-created_at", "-id")[:50]
        return Response({
            "user": user.pk,
            "journey_stage": user.journey_stage,
            "stage_name": services.stage_get(user.journey_stage).name if user.journey_stage else None,
            "stage_count": STAGE_COUNT,
            "stage_progress": selectors.stage_progress(user=user),
            "history": JourneyProgressSerializer(history, many=True, context={"request": request}).data,
            "recommendations": [s.as_dict(with_profile=has_personal_permission(request.user, PERSONAL_DATA))
                                for s in stream_recommendations(user=user)],
        })

    @extend_schema(request=SetStageSerializer, responses=JourneyProgressSerializer)
    @action(detail=True, methods=["post"], url_path="set-stage")
    def set_stage(self, request, pk=None):
        """Put the member on a stage by hand; recorded with who and why."""
        user = self.get_object()
        params = SetStageSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        progress = services.journey_set_stage(user=user, stage=params.validated_data["stage"], staff=request.user,
                                              reason=params.validated_data["reason"],
                                              notify=params.validated_data["notify"])
        if progress is None:
            return Response({"detail": "The member is already on this stage."}, status=status.HTTP_200_OK)
        return Response(JourneyProgressSerializer(progress, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def analyse(self, request, pk=None):
        """Re-analyse the member's latest turn now (queued)."""
        user = self.get_object()
        analyse_member_later(user.pk, force=True)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class StreamStepSerializer(serializers.ModelSerializer):
    class Meta:
        model = StreamStep
        fields = ["id", "day_offset", "order", "text", "quick_replies"]
        read_only_fields = ["id"]


class StreamSerializer(serializers.ModelSerializer):
    suitable_stages = serializers.SlugRelatedField(slug_field="order", many=True, required=False,
                                                   queryset=JourneyStage.objects.all())
    steps = StreamStepSerializer(many=True, required=False)
    enrolled = serializers.SerializerMethodField()

    class Meta:
        model = Stream
        fields = ["id", "title", "slug", "description", "url", "starts_at", "tags", "suitable_stages", "is_active",
                  "steps", "enrolled", "created_at"]
        read_only_fields = ["id", "created_at"]

    def get_enrolled(self, obj) -> int:
        annotated = getattr(obj, "enrolled_count", None)  # the list annotates it (one query, not one per row)
        return obj.enrollments.count() if annotated is None else annotated

    def _save(self, stream, validated):
        """The rules are the model's and the service's (the admin meets the same ones)."""
        stages = validated.pop("suitable_stages", None)
        steps = validated.pop("steps", None)
        try:
            return services.stream_save(stream=stream, fields=validated,
                                        stage_orders=[s.order for s in stages] if stages is not None else None,
                                        steps=steps)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict)

    def create(self, validated_data):
        return self._save(None, validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)


class StreamViewSet(viewsets.ModelViewSet):
    """The stream catalogue with its programme (``steps``; sending ``steps`` replaces the programme)."""

    queryset = selectors.streams_for_api()
    serializer_class = StreamSerializer
    filterset_fields = ["is_active"]
