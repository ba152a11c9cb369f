"""The ``/api/v1/`` router: every app registers its viewsets here."""

from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from privacy.auth import LogoutView, StaffTokenObtainView, StaffTokenRefreshView

router = DefaultRouter()


def register_viewsets():
    from analytics.api import AnalyticsSummaryView
    from broadcasts.api import BroadcastViewSet
    from journeys.api import JourneyMemberViewSet, JourneyProgressViewSet, JourneyStageViewSet, StreamViewSet
    from profiles.api import PsychologicalProfileViewSet, TelegramUserViewSet
    from triggers.api import ProactiveTriggerViewSet, ProactivityConfigView

    router.register("users", TelegramUserViewSet, basename="user")
    router.register("journeys/stages", JourneyStageViewSet, basename="journey-stage")
    router.register("journeys/progress", JourneyProgressViewSet, basename="journey-progress")
    router.register("journeys/members", JourneyMemberViewSet, basename="journey-member")
    router.register("profiles", PsychologicalProfileViewSet, basename="profile")
    router.register("streams", StreamViewSet, basename="stream")
    router.register("triggers", ProactiveTriggerViewSet, basename="trigger")
    router.register("broadcasts", BroadcastViewSet, basename="broadcast")
    return [path("analytics/summary/", AnalyticsSummaryView.as_view(), name="analytics-summary"),
            path("proactivity-config/", ProactivityConfigView.as_view(), name="proactivity-config")]


extra = register_viewsets()

urlpatterns = [
    path("v1/auth/token/", StaffTokenObtainView.as_view(), name="token_obtain_pair"),
    path("v1/auth/token/refresh/", StaffTokenRefreshView.as_view(), name="token_refresh"),
    path("v1/auth/logout/", LogoutView.as_view(), name="token_logout"),
    path("v1/", include(extra + router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Staff who are not logged in are sent to the admin login and come back here.
    path("docs/", staff_member_required(SpectacularSwaggerView.as_view(url_name="schema")), name="swagger-ui"),
    path("redoc/", staff_member_required(SpectacularRedocView.as_view(url_name="schema")), name="redoc"),
]
