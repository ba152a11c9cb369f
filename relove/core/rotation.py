"""Re-encrypt every encrypted column and every archive file with the newest key (key rotation).

Safe while the product serves: each row is swapped with a compare-and-swap UPDATE
(``… WHERE pk = %s AND column = <the ciphertext we read>``), so a value written in between —
a new turn, a new summary — is never overwritten with the older one we read; that row is read
again. Resumable without state: a value the newest key alone can read is already rotated and
skipped, so a rerun after a crash only does what is left.

Deploy the new key to every process *before* rotating: a process still writing with an old
key would write values this run has to visit again (a rerun finds them).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

from .archive import archive_files, archive_lock, archive_write
from .blind_index import derived_fields
from .crypto import DecryptionError, encrypted_fields, get_fernet, rotate_token

MAX_CAS_RETRIES = 20


def models_with_encrypted_fields():
    return [m for m in apps.get_models() if encrypted_fields(m) and m._meta.managed and not m._meta.proxy]


def _newest() -> Fernet:
    return Fernet(settings.FIELD_ENCRYPTION_KEYS[0].strip().encode())


def is_current(token: str | bytes | None) -> bool:
    """True if the newest key alone decrypts ``token`` (nothing to rotate)."""
    if token is None:
        return True
    try:
        _newest().decrypt(token.encode("ascii") if isinstance(token, str) else token)
        return True
    except (InvalidToken, ValueError):
        return False


def _rotate_row(model, pk, columns: list[str], old: tuple) -> bool:
    """CAS one row; returns True if it was rotated, False if it changed under us."""
    new = [rotate_token(v) if v is not None and not is_current(v) else v for v in old]
    if list(new) == list(old):
        return True
    qn = connection.ops.quote_name
    sets = ", ".join(f"{qn(c)} = %s" for c in columns)
    conds = " AND ".join(f"{qn(c)} IS NULL" if v is None else f"{qn(c)} = %s"
                         for c, v in zip(columns, old, strict=True))
    params = [*new, pk, *[v for v in old if v is not None]]
    # Raw SQL: the ORM refuses lookups on encrypted columns, and the CAS compares ciphertext.
    # Identifiers come from model metadata, quoted; every value is a parameter.
    sql = f"UPDATE {qn(model._meta.db_table)} SET {sets} WHERE {qn(model._meta.pk.column)} = %s AND {conds}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _read(model, columns: list[str], *, after=None, pk=None, limit: int = 500) -> list[tuple]:
    qn = connection.ops.quote_name
    pk_col = qn(model._meta.pk.column)
    cols = ", ".join([pk_col, *[qn(c) for c in columns]])
    sql = f"SELECT {cols} FROM {qn(model._meta.db_table)}"  # noqa: S608 (quoted identifiers from metadata)
    params: list = []
    if pk is not None:
        sql += f" WHERE {pk_col} = %s"
        params.append(pk)
    elif after is not None:
        sql += f" WHERE {pk_col} > %s"
        params.append(after)
    sql += f" ORDER BY {pk_col} LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rotate_with_retries(model, columns: list[str], pk, current: tuple) -> int:
    for _attempt in range(MAX_CAS_RETRIES):
        if all(is_current(v) for v in current):
            return 0
        if _rotate_row(model, pk, columns, current):
            return 1
        fresh = _read(model, columns, pk=pk, limit=1)  # changed under us: take the new value
        if not fresh:
            return 0  # deleted meanwhile (e.g. erased): nothing to rotate
        current = tuple(fresh[0][1:])
    raise DecryptionError(f"{model._meta.label} #{pk} kept changing during rotation; run again")


def reencrypt_model(model, *, batch_size: int = 200, progress: Callable[[str, int], None] | None = None) -> int:
    """Rotate every row of one model; returns the rows whose ciphertext changed."""
    columns = [f.column for f in encrypted_fields(model)]
    rotated, last_pk = 0, None
    while True:
        rows = _read(model, columns, after=last_pk, limit=batch_size)
        if not rows:
            return rotated
        # One commit per batch (not per row): the swaps stay per-row compare-and-swap; a swapped
        # row stays locked until the batch commits, a few hundred milliseconds at most.
        with transaction.atomic():
            for pk, *values in rows:
                rotated += _rotate_with_retries(model, columns, pk, tuple(values))
        last_pk = rows[-1][0]
        if progress:
            progress(model._meta.label, len(rows))


def reencrypt_archives(*, progress: Callable[[str, int], None] | None = None) -> int:
    """Re-encrypt every archive file not yet under the newest key; returns files rewritten."""
    rewritten = 0
    with archive_lock():
        for path in archive_files():
            blob = path.read_bytes()
            if not is_current(blob):
                try:
                    archive_write(path, get_fernet().rotate(blob))
                except InvalidToken as exc:
                    raise DecryptionError(f"archive {path.name} cannot be decrypted with the configured keys") from exc
                rewritten += 1
            if progress:
                progress("archive", 1)
    return rewritten


def models_with_blind_indexes():
    return [m for m in apps.get_models() if derived_fields(m) and m._meta.managed and not m._meta.proxy]


def reindex_model(model, *, batch_size: int = 200, progress: Callable[[str, int], None] | None = None) -> int:
    """Recompute the model's blind-index columns with the newest index key; returns rows changed.

    Compare-and-swap on the stored digest: a row saved meanwhile was indexed with the newest
    key by that save, so a failed swap needs no retry.
    """
    fields = derived_fields(model)
    sources = [s for f in fields for s in (f.sources if hasattr(f, "sources") else (f.source,))]
    changed, last_pk = 0, None
    while True:
        qs = model._base_manager.order_by("pk").only(*sources, *(f.name for f in fields))
        rows = list((qs.filter(pk__gt=last_pk) if last_pk is not None else qs)[:batch_size])
        if not rows:
            return changed
        with transaction.atomic():  # one commit per batch, as for re-encryption
            for row in rows:
                old = {f.attname: getattr(row, f.attname) for f in fields}
                new = {f.attname: f.compute(row) for f in fields}
                if old != new:
                    changed += model._base_manager.filter(pk=row.pk, **old).update(**new)
        last_pk = rows[-1].pk
        if progress:
            progress(f"{model._meta.label} (index)", len(rows))


def reencrypt_all(*, batch_size: int = 200, progress=None) -> dict[str, int]:
    """Rotate every encrypted column and archive file, then recompute every blind index with
    the newest key; returns what changed per model (``"archive"``: files; ``"<label> index"``:
    rows re-indexed). Raises DecryptionError on a value no key can read, so nothing is
    rewritten under a key mix-up."""
    done = {m._meta.label: reencrypt_model(m, batch_size=batch_size, progress=progress)
            for m in models_with_encrypted_fields()}
    done["archive"] = reencrypt_archives(progress=progress)
    for model in models_with_blind_indexes():
        done[f"{model._meta.label} index"] = reindex_model(model, batch_size=batch_size, progress=progress)
    return done
