from django.core.management.base import BaseCommand

from journeys.demo import seed_demo


class Command(BaseCommand):
    help = "Load demo streams and sample members (idempotent)."

    def handle(self, *args, **options):
        created = seed_demo()
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {created['streams']} new streams, {created['members']} new members."))
