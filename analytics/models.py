"""Rollups the dashboard reads instead of scanning every interaction."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from profiles.models import TelegramUser


class DailyActivity(models.Model):
    """How many messages one member wrote on one local day (Europe/Moscow, the project's zone).

    Written only by ``analytics.services.activity_rollup``: past days once, today again every
    minute. Erasing a member erases their rows (cascade).
    """

    day = models.DateField(_("день"))
    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="+", verbose_name=_("участник"))
    messages = models.PositiveIntegerField(_("сообщений"))

    class Meta:
        verbose_name = _("активность за день")
        verbose_name_plural = _("активность по дням")
        constraints = [models.UniqueConstraint(fields=["day", "user"], name="daily_activity_one_per_member_day")]

    def __str__(self):
        return f"{self.day} · {self.user_id}: {self.messages}"


class WeeklyActivity(models.Model):
    """That a member wrote in a calendar week (``week`` is its Monday): one row per member-week.

    Rebuilt from ``DailyActivity`` for the week of each rolled-up day, so cohort retention
    counts rows instead of distinct members over every day.
    """

    week = models.DateField(_("неделя"))
    user = models.ForeignKey(TelegramUser, on_delete=models.CASCADE, related_name="+", verbose_name=_("участник"))

    class Meta:
        verbose_name = _("активность за неделю")
        verbose_name_plural = _("активность по неделям")
        constraints = [models.UniqueConstraint(fields=["week", "user"], name="weekly_activity_one_per_member_week")]

    def __str__(self):
        return f"{self.week} · {self.user_id}"


class DailyTotal(models.Model):
    """All members' messages on one local day and how many members wrote: the chart's one row per day.

    Written with the day's ``DailyActivity`` rows (only for days on which someone wrote).
    """

    day = models.DateField(_("день"), unique=True)
    messages = models.PositiveIntegerField(_("сообщений"))
    members = models.PositiveIntegerField(_("участников"))

    class Meta:
        verbose_name = _("итог дня")
        verbose_name_plural = _("итоги по дням")

    def __str__(self):
        return f"{self.day}: {self.messages}"


class CohortActivity(models.Model):
    """How many members of a weekly cohort (``cohort``: the Monday of their first contact's week)
    wrote in calendar week ``week``. Counts only, no member: rebuilt with ``WeeklyActivity``,
    so cohort retention reads a few hundred rows instead of joining every member-week."""

    cohort = models.DateField(_("когорта"))
    week = models.DateField(_("неделя"))
    members = models.PositiveIntegerField(_("участников"))

    class Meta:
        verbose_name = _("активность когорты")
        verbose_name_plural = _("активность когорт")
        constraints = [models.UniqueConstraint(fields=["week", "cohort"], name="cohort_activity_one_per_week")]

    def __str__(self):
        return f"{self.cohort} · {self.week}: {self.members}"
