"""``manage.py send_broadcast ID``: deliver a broadcast in the foreground with a progress bar."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from broadcasts.models import Broadcast
from broadcasts.selectors import delivery_counts, local_waiting
from broadcasts.services import (
    BroadcastError,
    broadcast_deliver,
    broadcast_finish_if_complete,
    broadcast_send_now,
    deliveries_recover_stuck,
)


class Command(BaseCommand):
    help = ("Send a broadcast now, in the foreground. A draft or scheduled broadcast is started; "
            "one already sending is resumed (safe next to Celery workers). Running it again sends nothing new.")

    def add_arguments(self, parser):
        parser.add_argument("broadcast_id", type=int)
        parser.add_argument("--concurrency", type=int, default=None, help="requests in flight (default: setting)")
        parser.add_argument("--recover-stuck-after", type=float, default=None, metavar="SECONDS",
                            help="first mark rows left 'sending' longer than this by a dead worker as unknown")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")

    def handle(self, *args, broadcast_id, concurrency, recover_stuck_after, no_progress, **options):
        broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
        if broadcast is None:
            raise CommandError(f"Broadcast {broadcast_id} does not exist.")
        if broadcast.status in (Broadcast.Status.DRAFT, Broadcast.Status.SCHEDULED):
            try:
                broadcast_send_now(broadcast_id=broadcast_id, enqueue=False)
            except BroadcastError as exc:
                raise CommandError(str(exc))
        if recover_stuck_after is not None:
            deliveries_recover_stuck(older_than=timedelta(seconds=recover_stuck_after), broadcast_id=broadcast_id)
            broadcast_finish_if_complete(broadcast_id=broadcast_id)
        counts = delivery_counts(broadcast_id=broadcast_id)
        with tqdm(total=counts["total"], initial=counts["total"] - counts["pending"], unit="msg",
                  disable=no_progress, desc=f"broadcast {broadcast_id}") as bar:
            result = broadcast_deliver(broadcast_id=broadcast_id, concurrency=concurrency, on_progress=bar.update)
        counts = delivery_counts(broadcast_id=broadcast_id)
        self.stdout.write(
            f"broadcast {broadcast_id}: {result['status']}; this run sent {result.get('sent', 0)}. "
            f"Totals: sent {counts['sent']}, failed {counts['failed']}, blocked {counts['blocked']}, "
            f"unknown {counts['unknown']}, skipped {counts['skipped']}, cancelled {counts['cancelled']}, "
            f"pending {counts['pending']} of {counts['total']}.")
        waiting = local_waiting(broadcast=Broadcast.objects.get(pk=broadcast_id))
        if waiting and waiting["count"]:
            self.stdout.write(f"{waiting['count']} wait for their members' local time (next at {waiting['next']}); "
                              "the beat dispatcher sends them when it comes.")
