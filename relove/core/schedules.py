"""Periodic jobs, declared once in code and created in django-celery-beat on ``migrate``.

Existing rows are left as staff edited them (only missing ones are created), so a
deploy never resets a schedule changed in admin.
"""

PERIODIC_TASKS = [
    # (name, task, schedule kind, schedule spec)
    ("Триггеры: поиск и отправка", "triggers.tasks.scan_triggers", "interval", {"every": 1, "period": "minutes"}),
    ("Рассылки: запуск запланированных", "broadcasts.tasks.dispatch_scheduled_broadcasts", "interval",
     {"every": 1, "period": "minutes"}),
    ("Служебные сообщения: повторы и зависшие", "bot.tasks.sweep_outbound", "interval",
     {"every": 1, "period": "minutes"}),
    ("Кризисные сигналы: повторное оповещение", "bot.tasks.crisis_realert", "interval",
     {"every": 5, "period": "minutes"}),
    ("Сессии: завершение неактивных", "bot.tasks.end_idle_sessions", "interval", {"every": 5, "period": "minutes"}),
    ("Профили: ежедневная ротация", "profiles.tasks.rotate_profiles", "crontab",
     {"minute": "0", "hour": "3", "timezone": "Europe/Moscow"}),
    ("Журналы: архивация старше 90 дней", "bot.tasks.archive_logs", "crontab",
     {"minute": "30", "hour": "4", "timezone": "Europe/Moscow"}),
    ("Переписка: сжатие и удаление старше срока хранения", "bot.tasks.apply_conversation_retention", "crontab",
     {"minute": "40", "hour": "4", "timezone": "Europe/Moscow"}),
    ("Архивы: удаление старше срока хранения", "privacy.tasks.prune_archives", "crontab",
     {"minute": "50", "hour": "4", "timezone": "Europe/Moscow"}),
    ("Фоновые действия сотрудников: удаление старше срока хранения", "relove.core.tasks.prune_staff_tasks",
     "crontab", {"minute": "55", "hour": "4", "timezone": "Europe/Moscow"}),
    ("Аналитика: дневные сводки активности", "analytics.tasks.rollup_activity", "interval",
     {"every": 1, "period": "minutes"}),
]


def ensure_periodic_tasks(**kwargs) -> int:
    """Create the missing periodic tasks; returns how many were created. Idempotent."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    created = 0
    for name, task, kind, spec in PERIODIC_TASKS:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if kind == "interval":
            schedule, _ = IntervalSchedule.objects.get_or_create(**spec)
            PeriodicTask.objects.create(name=name, task=task, interval=schedule)
        else:
            schedule, _ = CrontabSchedule.objects.get_or_create(
                day_of_week="*", day_of_month="*", month_of_year="*", **spec
            )
            PeriodicTask.objects.create(name=name, task=task, crontab=schedule)
        created += 1
    return created
