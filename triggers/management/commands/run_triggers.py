"""``manage.py run_triggers``: one scan of the trigger engine (or a loop, without Celery beat)."""

import json
import time

from django.core.management.base import BaseCommand

from triggers.services import triggers_run_scan


class Command(BaseCommand):
    help = "Find reasons to write first and send the proactive messages that are due (safe to overlap)."

    def add_arguments(self, parser):
        parser.add_argument("--no-deliver", action="store_true", help="Only detect; send nothing.")
        parser.add_argument("--loop", type=float, metavar="SECONDS", default=0,
                            help="Repeat every SECONDS until interrupted (for setups without Celery beat).")

    def handle(self, *args, no_deliver=False, loop=0, **options):
        while True:
            counts = triggers_run_scan(deliver=not no_deliver)
            self.stdout.write(json.dumps(counts, sort_keys=True))
            if not loop:
                return
            time.sleep(loop)
