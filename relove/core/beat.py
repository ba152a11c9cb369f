"""The beat scheduler: django-celery-beat's database scheduler, reporting each tick as alive."""

from django_celery_beat.schedulers import DatabaseScheduler

from .liveness import BEAT, record


class HeartbeatScheduler(DatabaseScheduler):
    """Every tick is beat's heartbeat (throttled to one write per HEARTBEAT_SECONDS), so staff see
    at once when schedules stop firing."""

    def tick(self, *args, **kwargs):
        record(BEAT)
        return super().tick(*args, **kwargs)
