from django.core.management.base import BaseCommand
from tqdm import tqdm

from relove.core.archive import archive_files
from relove.core.rotation import models_with_blind_indexes, models_with_encrypted_fields, reencrypt_all


class Command(BaseCommand):
    help = ("Re-encrypt all personal data and archive files with the newest FIELD_ENCRYPTION_KEY and recompute "
            "the blind indexes (Telegram id, name search) with the index key derived from it. Put the new "
            "key first (in every process), keep the old ones after it, run this, then remove the old keys. "
            "Safe while the product serves (per-row compare-and-swap); a rerun resumes where it stopped.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, batch_size, **options):
        total = (sum(m._base_manager.count() for m in [*models_with_encrypted_fields(), *models_with_blind_indexes()])
                 + len(archive_files()))
        with tqdm(total=total, unit="row", disable=options["verbosity"] == 0) as bar:
            done = reencrypt_all(batch_size=batch_size, progress=lambda label, n: bar.update(n))
        for label, count in done.items():
            self.stdout.write(f"{label}: {count}")
        self.stdout.write(self.style.SUCCESS(
            f"Re-encrypted {sum(v for k, v in done.items() if k != 'archive' and not k.endswith(' index'))} rows "
            f"and {done['archive']} archive files, re-indexed "
            f"{sum(v for k, v in done.items() if k.endswith(' index'))} rows with the newest key."))
