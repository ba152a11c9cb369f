from django.contrib import admin
from django.urls import include, path

from analytics.views import dashboard, dashboard_csv, dashboard_data
from bot.views import telegram_webhook
from privacy.auth import StaffAdminLoginForm
from relove.core.admin_dashboard import dashboard_json
from relove.core.health import healthz

admin.site.login_form = StaffAdminLoginForm  # optional TOTP code (django-otp)
admin.site.site_header = "reLove · Наташа"
admin.site.site_title = "reLove"
admin.site.index_title = "Управление ботом"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    path("api/", include("relove.api")),
    path("admin/analytics/", dashboard, name="analytics-dashboard"),
    path("admin/analytics/data.json", dashboard_data, name="analytics-dashboard-data"),
    path("admin/analytics/<slug:table>.csv", dashboard_csv, name="analytics-dashboard-csv"),
    path("admin/dashboard.json", admin.site.admin_view(dashboard_json), name="admin-dashboard-data"),
    path("admin/", admin.site.urls),
    path("", include("journeys.urls")),
]
