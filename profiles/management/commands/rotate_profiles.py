from django.core.management.base import BaseCommand
from tqdm import tqdm

from profiles.rotation import profiles_rotate


class Command(BaseCommand):
    help = "Rebuild the profiles of members due for rotation (SPEC R6), or of the given members."

    def add_arguments(self, parser):
        parser.add_argument("--member", type=int, action="append", dest="members", metavar="ID",
                            help="rotate this member now (by internal id); may be repeated")
        parser.add_argument("--dry-run", action="store_true", help="only list who would be rotated")
        parser.add_argument("--run-key", default=None, help="resume a scheduled run (default: today's date)")
        parser.add_argument("--pause", type=float, default=None, help="seconds between batches of 10")

    def handle(self, *args, members=None, dry_run=False, run_key=None, pause=None, **options):
        bar = None

        def on_selected(count):
            nonlocal bar
            if not dry_run:
                bar = tqdm(total=count, unit="member", desc="profiles", file=self.stderr._out,
                           disable=count == 0)

        result = profiles_rotate(run_key=run_key, member_ids=members, dry_run=dry_run, pause=pause,
                                 on_selected=on_selected, on_member=lambda _id, _outcome: bar.update(1))
        if bar is not None:
            bar.close()
        if dry_run:
            self.stdout.write(f"would rotate {result['selected']} member(s): "
                              + ", ".join(str(i) for i in result["member_ids"]))
            return
        self.stdout.write(self.style.SUCCESS(
            f"rotated {result['rotated']}, skipped {result['skipped']}, busy {result['busy']} "
            f"of {result['selected']} in {result['batches']} batch(es)"))
