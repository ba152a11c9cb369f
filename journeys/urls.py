from django.urls import path

from .views import stream_click

urlpatterns = [
    path("r/s/<str:ref>/", stream_click, name="stream-click"),
]
