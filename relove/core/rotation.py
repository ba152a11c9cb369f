"""Re-encrypt every encrypted column with the newest key (key rotation)."""

from django.apps import apps
from django.db import transaction

from .crypto import encrypted_fields


def models_with_encrypted_fields():
    return [m for m in apps.get_models() if encrypted_fields(m)]


def reencrypt_all(*, batch_size: int = 500, progress=None) -> dict[str, int]:
    """Load each row (any configured key decrypts) and write it back (the newest key encrypts).

    Safe to run while the product serves traffic: each batch is one short transaction and
    writes only the encrypted columns. Raises DecryptionError on a row no key can read, so
    nothing is rewritten under a key mix-up. Returns rows re-encrypted per model.
    """
    done: dict[str, int] = {}
    for model in models_with_encrypted_fields():
        names = [f.name for f in encrypted_fields(model)]
        count = 0
        last_pk = None
        while True:
            qs = model._default_manager.order_by("pk").only("pk", *names)
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            rows = list(qs[:batch_size])
            if not rows:
                break
            with transaction.atomic():
                model._default_manager.bulk_update(rows, names)
            count += len(rows)
            last_pk = rows[-1].pk
            if progress:
                progress(model._meta.label, len(rows))
        done[model._meta.label] = count
    return done
