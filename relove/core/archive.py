"""Encrypted archive files under ``ARCHIVE_DIR``: one place that reads, writes and locks them.

An archive file is gzip-compressed JSON lines, Fernet-encrypted as a whole. Everything that
writes archives (archiving, erasure, key rotation, retention) holds :func:`archive_lock`, an
exclusive ``flock`` on ``<ARCHIVE_DIR>.lock`` (beside the folder, which holds only archives):
erasure must never scan the folder while an archiver holds a member's rows that are no longer
in the table but not yet in a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from .crypto import DecryptionError, get_fernet

ARCHIVE_SUFFIX = ".jsonl.gz.fernet"


def archive_dir() -> Path:
    """The archive folder, created 0700 (it holds personal data, even if encrypted)."""
    path = Path(settings.ARCHIVE_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def archive_lock() -> Iterator[Path]:
    """Hold the archive folder exclusively (across processes on this filesystem)."""
    folder = archive_dir()
    fd = os.open(folder.with_name(folder.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def archive_files() -> list[Path]:
    return sorted(p for p in archive_dir().iterdir() if p.name.endswith(ARCHIVE_SUFFIX))


def archive_encode(rows: list[dict]) -> bytes:
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    return get_fernet().encrypt(gzip.compress(lines.encode("utf-8")))


def archive_read(path: Path) -> list[dict]:
    """Decrypt one archive file back into its rows."""
    try:
        raw = get_fernet().decrypt(path.read_bytes())
    except Exception as exc:  # InvalidToken carries no message; say which file
        raise DecryptionError(f"archive {path.name} cannot be decrypted with the configured keys") from exc
    return [json.loads(line) for line in gzip.decompress(raw).decode("utf-8").splitlines() if line]


def archive_write(path: Path, blob: bytes) -> None:
    """Write (or replace) an archive file atomically, mode 0600: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def archives_keep(keep: Callable[[dict], bool]) -> int:
    """Rewrite every archive file with only the lines ``keep`` accepts; returns the lines dropped.

    Under the archive lock (the archiver and key rotation take it too); a file left empty is
    removed, an untouched one is not rewritten.
    """
    removed = 0
    with archive_lock():
        for path in archive_files():
            rows = archive_read(path)
            kept = [row for row in rows if keep(row)]
            if len(kept) == len(rows):
                continue
            removed += len(rows) - len(kept)
            if kept:
                archive_write(path, archive_encode(kept))
            else:
                path.unlink()
    return removed
