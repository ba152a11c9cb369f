from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from relove.core.access import ANALYTICS

from . import selectors


class AnalyticsSummaryView(APIView):
    """Active members, messages per day, stage distribution, proactive and broadcast rates."""

    method_permissions = {"GET": [ANALYTICS]}

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(selectors.summary())
