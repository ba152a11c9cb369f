"""The analytics page in the admin: charts and tables over a date range, CSV of each table.

Aggregates only, for the «Аналитик» role (``privacy.view_analytics``). A number links to the
admin list behind it only for staff who may open that list.
"""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from relove.core.access import ANALYTICS

from . import reports, selectors
from .reports import DateRange, RangeError

# table -> (file title, [(key, column header)])
TABLES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "messages": ("messages", [("day", "день"), ("messages", "сообщений участников"),
                              ("active", "писали участников")]),
    "funnel": ("funnel", [("stage", "этап"), ("name", "название"), ("reached", "дошли до этапа или дальше"),
                          ("share", "доля от начавших")]),
    "transitions": ("transitions", [("day", "день"), ("placement", "определение этапа"),
                                    ("llm", "анализ разговора"), ("staff", "вручную сотрудником")]),
    "proactive": ("proactive", [("label", "тип"), ("sent", "отправлено"), ("answered", "с ответом"),
                                ("rate", "доля ответов")]),
    "broadcasts": ("broadcasts", [("title", "рассылка"), ("started", "начата"), ("recipients", "получателей"),
                                  ("delivered", "доставлено"), ("blocked", "заблокировали"), ("failed", "ошибки"),
                                  ("delivery_rate", "доля доставки"), ("clicks", "нажали кнопку"),
                                  ("click_rate", "доля нажавших")]),
    "streams": ("streams", [("title", "поток"), ("clicks", "перешли по ссылке"), ("enrolled", "записались"),
                            ("conversion", "доля записавшихся")]),
    "retention": ("retention", [("week_start", "неделя"), ("members", "участников"), ("retention", "удержание")]),
}

TABLE_ROWS = {"messages": reports.messages_by_day, "funnel": reports.stage_funnel,
              "transitions": reports.stage_transitions, "proactive": reports.proactive_by_kind,
              "broadcasts": reports.broadcast_rates, "streams": reports.stream_conversion}


def _range(request) -> tuple[DateRange, str]:
    try:
        return reports.range_parse(request.GET), ""
    except RangeError as exc:
        return reports.range_parse({}), str(exc)


def _changelist(request, name: str, perm: str, **params) -> str:
    if not request.user.has_perm(perm):
        return ""
    return f"{reverse(f'admin:{name}_changelist')}?{urlencode(params)}"


def _day_bounds(day: str) -> tuple[str, str]:
    start = datetime.combine(datetime.fromisoformat(day).date(), time.min, reports.rollup_zone())
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def _add_links(request, data: dict, r: DateRange) -> dict:
    """Every row gets the URL of the admin list behind its number ("" without the right to open it)."""
    member_view = "profiles.view_telegramuser"
    for row in data["messages"]:
        row["url"] = _changelist(request, "profiles_telegramuser", member_view, active_on=row["day"])
    for row in data["funnel"]:
        row["url"] = _changelist(request, "profiles_telegramuser", member_view, reached_stage=row["stage"])
    for row in data["transitions"]:
        start, end = _day_bounds(row["day"])
        row["url"] = _changelist(request, "journeys_journeyprogress", "journeys.view_journeyprogress",
                                 created_at__gte=start, created_at__lt=end)
    start, end = r.bounds()
    for row in data["proactive"]:
        row["url"] = _changelist(request, "triggers_proactivetrigger", "triggers.view_proactivetrigger",
                                 kind__exact=row["kind"], status__exact="sent", sent_at__gte=start.isoformat(),
                                 sent_at__lt=end.isoformat())
    for row in data["broadcasts"]:
        row["url"] = _changelist(request, "broadcasts_broadcastdelivery", "broadcasts.view_broadcastdelivery",
                                 broadcast__id__exact=row["broadcast"])
    for row in data["streams"]:
        row["url"] = _changelist(request, "journeys_streamenrollment", "journeys.view_streamenrollment",
                                 stream__id__exact=row["stream"])
    data["totals"]["active_url"] = _changelist(request, "profiles_telegramuser", member_view,
                                               active_on=f"{r.start.isoformat()}..{r.end.isoformat()}")
    return data


def _report(request, r: DateRange) -> dict:
    data = _add_links(request, reports.report(r), r)
    data["retention"] = selectors.retention_by_cohort()
    return data


@staff_member_required
@permission_required(ANALYTICS, raise_exception=True)
def dashboard(request):
    r, error = _range(request)
    context = {**admin.site.each_context(request), "title": "Аналитика", "report": _report(request, r),
               "range": r, "range_error": error, "presets": reports.PRESETS,
               "query": urlencode({"from": r.start.isoformat(), "to": r.end.isoformat()})}
    return TemplateResponse(request, "admin/analytics/dashboard.html", context)


@staff_member_required
@permission_required(ANALYTICS, raise_exception=True)
def dashboard_data(request):
    r, error = _range(request)
    if error:
        return JsonResponse({"error": error}, status=400)
    return JsonResponse(_report(request, r))


def _cell(value) -> str:
    if isinstance(value, list):
        return " ".join(f"{v:.1%}" for v in value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@staff_member_required
@permission_required(ANALYTICS, raise_exception=True)
def dashboard_csv(request, table: str):
    """One table of the page as CSV (UTF-8 with BOM, so spreadsheet apps read the Cyrillic)."""
    if table not in TABLES:
        raise Http404
    r, error = _range(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    rows = selectors.retention_by_cohort() if table == "retention" else TABLE_ROWS[table](r)
    title, columns = TABLES[table]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="relove-{title}-{r.start}-{r.end}.csv"'
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow([header for _, header in columns])
    for row in rows:
        writer.writerow([_cell(row[key]) for key, _ in columns])
    return response
