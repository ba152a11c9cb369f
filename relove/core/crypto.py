"""Encryption at rest for personal data.

Model fields built on ``cryptography``'s MultiFernet: the newest key (first in
``FIELD_ENCRYPTION_KEY``) encrypts, every key decrypts, so keys rotate without downtime
(add a new key in front, run ``manage.py rotate_keys``, then drop the old key).

A value that none of the keys can decrypt raises :class:`DecryptionError`. It is never
passed through as ciphertext: a silently returned token would be encrypted again on the
next save and the data lost for good.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

CANARY_PLAINTEXT = "relove-encryption-canary"


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set. Generate one with `manage.py generate_encryption_key`."
        )
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY holds an invalid Fernet key: {exc}") from exc


def get_fernet() -> MultiFernet:
    return _fernet_for(tuple(k for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def encrypt_str(plaintext: str) -> str:
    return get_fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_str(token: str) -> str:
    try:
        return get_fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise DecryptionError("value cannot be decrypted with the configured keys") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt a stored token with the newest key (raises if no key can read it)."""
    try:
        return get_fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError("value cannot be decrypted with the configured keys") from exc


class _EncryptedMixin:
    """Stores ``encrypt(serialize_plain(value))`` in a text column; only ``isnull`` lookups apply.

    Subclasses define ``serialize_plain`` and ``deserialize_plain``.
    """

    encrypted = True

    def get_internal_type(self):
        return "TextField"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self.deserialize_plain(decrypt_str(value))

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_str(self.serialize_plain(value))

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)


class EncryptedTextField(_EncryptedMixin, models.TextField):
    def serialize_plain(self, value) -> str:
        return str(value)

    def deserialize_plain(self, text: str):
        return text

    def to_python(self, value):
        return value if value is None else str(value)


class EncryptedBigIntegerField(_EncryptedMixin, models.TextField):
    """An integer (a Telegram chat id) stored encrypted: no ordering, no lookups but ``isnull``.

    To find rows by it, pair it with a blind index (see :mod:`relove.core.blind_index`).
    """

    def serialize_plain(self, value) -> str:
        return str(int(value))

    def deserialize_plain(self, text: str):
        return int(text)

    def to_python(self, value):
        if value is None or isinstance(value, int):
            return value
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(_("Нужно целое число."), code="invalid") from exc

    def formfield(self, **kwargs):
        return forms.IntegerField(**{"required": not self.blank, **kwargs})


class EncryptedJSONField(_EncryptedMixin, models.TextField):
    """A JSON document (list or dict) encrypted as a whole, not leaf by leaf."""

    def serialize_plain(self, value) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def deserialize_plain(self, text: str):
        return json.loads(text)

    def to_python(self, value):
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def value_to_string(self, obj):
        return self.serialize_plain(self.value_from_object(obj))

    def formfield(self, **kwargs):
        return forms.JSONField(**{"required": not self.blank, **kwargs})


def encrypted_fields(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]


def ensure_canary(**kwargs) -> None:
    """Store the canary once so a later start can prove its keys still decrypt old data."""
    from .models import EncryptionCanary

    if settings.FIELD_ENCRYPTION_KEYS:
        EncryptionCanary.objects.get_or_create(pk=1, defaults={"value": CANARY_PLAINTEXT})


def verify_keys() -> None:
    """Raise ImproperlyConfigured unless the keys are valid and decrypt the stored canary."""
    from django.db import DatabaseError

    from .models import EncryptionCanary

    get_fernet()
    try:
        canary = EncryptionCanary.objects.filter(pk=1).first()
    except DecryptionError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY cannot decrypt data stored earlier: the key that wrote it is missing."
        ) from exc
    except DatabaseError:
        return  # not migrated yet: nothing stored, nothing to prove
    if canary is not None and canary.value != CANARY_PLAINTEXT:
        raise ImproperlyConfigured("The encryption canary decrypted to an unexpected value.")
