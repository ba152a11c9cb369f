from django.core.management.base import BaseCommand

from bot.services.updates import processed_updates_prune
from profiles.services import activity_logs_archive


class Command(BaseCommand):
    help = "Archive activity logs older than ACTIVITY_LOG_RETENTION_DAYS (encrypted files) and remove them."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="override the retention period")

    def handle(self, *args, days, **options):
        archived = activity_logs_archive(older_than_days=days)
        pruned = processed_updates_prune()
        self.stdout.write(self.style.SUCCESS(f"Archived {archived} log entries; pruned {pruned} update ids."))
