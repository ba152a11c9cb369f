from django.contrib import admin
from django.urls import include, path

from bot.views import telegram_webhook
from relove.core.health import healthz

admin.site.site_header = "reLove · Наташа"
admin.site.site_title = "reLove"
admin.site.index_title = "Управление ботом"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    path("api/", include("relove.api")),
    path("admin/", admin.site.urls),
]
