"""Test URLconf: the routes this app asks relove/api.py and relove/urls.py to add, plus admin."""

from django.contrib import admin
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from journeys.api import JourneyMemberViewSet, JourneyProgressViewSet, JourneyStageViewSet, StreamViewSet
from profiles.api import PsychologicalProfileViewSet

router = DefaultRouter()
router.register("journeys/stages", JourneyStageViewSet, basename="journey-stage")
router.register("journeys/progress", JourneyProgressViewSet, basename="journey-progress")
router.register("journeys/members", JourneyMemberViewSet, basename="journey-member")
router.register("profiles", PsychologicalProfileViewSet, basename="profile")
router.register("streams", StreamViewSet, basename="stream")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("admin/", admin.site.urls),
    path("", include("journeys.urls")),
]
