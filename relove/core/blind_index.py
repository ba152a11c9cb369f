"""Keyed blind indexes: find a row by an encrypted value without storing the value in clear.

A blind index is ``HMAC-SHA256(index key, normalised value)``. The database holds only the
digest, so a copy of the data files (dead tuples, WAL, a backup) shows neither the Telegram id
nor the name, and without the key the digest cannot be tested against guesses.

Index keys are derived (HKDF-SHA256, fixed ``info``) from each key in ``FIELD_ENCRYPTION_KEY``,
in the same order: one secret to deploy and rotate. The newest key writes; lookups try every
configured key, so adding a new key in front breaks no lookup while ``rotate_keys`` recomputes
the stored digests with the newest key (after which the old key can go, as for encryption).

Two kinds:

- an *exact* index (full 64-hex digest, unique) for a whole value such as the Telegram id;
- *search tokens*: each word of a name, normalised (casefolded, «ё» → «е»), as a short digest
  (64 bits), so staff search finds «Ольга» by «ольга» and ``@username`` by the username, on
  SQLite and PostgreSQL alike — exact words only, no substrings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.expressions import Col

from .crypto import EncryptedBigIntegerField

_INFO = b"relove blind index v1"
TOKEN_DIGEST_CHARS = 16  # 64 bits: no collision among a community's names, short to store
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=8)
def _derive(keys: tuple[str, ...]) -> tuple[bytes, ...]:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set (blind indexes are derived from it).")
    derived = []
    for key in keys:
        material = base64.urlsafe_b64decode(key.encode())
        derived.append(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material))
    return tuple(derived)


def index_keys() -> tuple[bytes, ...]:
    """The index keys, newest first (one per encryption key)."""
    return _derive(tuple(k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def _digest(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def exact_digest(value) -> str:
    """The stored index of ``value`` (newest key)."""
    return _digest(index_keys()[0], str(value))


def exact_digests(value) -> list[str]:
    """Every digest ``value`` may be stored under (one per configured key)."""
    return list(dict.fromkeys(_digest(key, str(value)) for key in index_keys()))


def normalise(text: str) -> str:
    return text.casefold().replace("ё", "е")


def words(text: str) -> list[str]:
    """The searchable words of a name or a query: casefolded, «ё» as «е», split on non-word
    characters (``@olga_k`` is one word, «Анна-Мария» two)."""
    return _WORD.findall(normalise(text or ""))


def token_digests(text: str, key: bytes | None = None) -> list[str]:
    key = key or index_keys()[0]
    return [_digest(key, f"token:{w}")[:TOKEN_DIGEST_CHARS] for w in dict.fromkeys(words(text))]


def search_tokens(*texts: str) -> str:
    """The stored search column for a member's names: space-separated word digests (newest key)."""
    digests = dict.fromkeys(d for text in texts for d in token_digests(text))
    return " ".join(digests)


def query_token_groups(query: str) -> list[list[str]]:
    """For each word of ``query``, the digests it may be stored under (one per key)."""
    return [list(dict.fromkeys(_digest(key, f"token:{w}")[:TOKEN_DIGEST_CHARS] for key in index_keys()))
            for w in dict.fromkeys(words(query))]


# --- Model fields ------------------------------------------------------------------------
# ``telegram_id = BlindIndexedBigIntegerField(index="telegram_id_hash")`` stores the id
# encrypted; ``telegram_id_hash = BlindIndexField(source="telegram_id")`` stores its digest.
# ``filter(telegram_id=…)``, ``filter(telegram_id__in=…)`` and joins such as
# ``filter(user__telegram_id=…)`` keep working: the lookups compare digests.


def _as_int(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class _BlindLookup(models.Lookup):
    """Compares the paired digest column with the digests of the right-hand values
    (one value for ``exact``, a list for ``in``)."""

    prepare_rhs = False
    can_use_none_as_rhs = False

    def _values(self) -> list:
        return list(self.rhs) if self.lookup_name == "in" else [self.rhs]

    def as_sql(self, compiler, connection):
        field = self.lhs.target
        index_col = Col(self.lhs.alias, field.model._meta.get_field(field.blind_index))
        lhs_sql, lhs_params = compiler.compile(index_col)
        values = [v for v in (_as_int(v) for v in self._values()) if v is not None]
        digests = list(dict.fromkeys(d for v in values for d in exact_digests(v)))
        if not digests:
            return "1 = 0", []  # not an id (e.g. a name typed in an id search): matches nothing
        return f"{lhs_sql} IN ({', '.join(['%s'] * len(digests))})", [*lhs_params, *digests]


class BlindExact(_BlindLookup):
    lookup_name = "exact"


class BlindIn(_BlindLookup):
    lookup_name = "in"


class BlindIndexedBigIntegerField(EncryptedBigIntegerField):
    """An encrypted integer found through its blind index column (``index``)."""

    def __init__(self, *args, index: str, **kwargs):
        self.blind_index = index
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["index"] = self.blind_index
        return name, path, args, kwargs

    def get_lookup(self, lookup_name):
        blind = {"exact": BlindExact, "iexact": BlindExact, "in": BlindIn}.get(lookup_name)
        return blind or super().get_lookup(lookup_name)


class BlindIndexField(models.CharField):
    """The exact digest of ``source`` (recomputed on every save of the row)."""

    def __init__(self, *args, source: str, **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs.pop("max_length", None)
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def compute(self, instance) -> str | None:
        value = getattr(instance, self.source)
        return None if value is None else exact_digest(value)

    def pre_save(self, model_instance, add):
        value = self.compute(model_instance)
        setattr(model_instance, self.attname, value)
        return value


class TokenMatch(models.Lookup):
    """``search_tokens__matches="@Olga"``: every word of the query is one of the row's words."""

    lookup_name = "matches"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        groups = query_token_groups(str(self.rhs))
        if not groups:
            return "1 = 0", []
        clauses, params = [], []
        for digests in groups:
            clauses.append("(" + " OR ".join(f"{lhs_sql} LIKE %s" for _ in digests) + ")")
            for digest in digests:
                params += [*lhs_params, f"%{digest}%"]
        return "(" + " AND ".join(clauses) + ")", params


class SearchTokensField(models.TextField):
    """Word digests of ``sources`` (names), recomputed on every save; query with ``__matches``."""

    def __init__(self, *args, sources: tuple[str, ...], **kwargs):
        self.sources = tuple(sources)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["sources"] = self.sources
        for key, default in (("blank", True), ("default", ""), ("editable", False)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def compute(self, instance) -> str:
        return search_tokens(*(getattr(instance, s) or "" for s in self.sources))

    def pre_save(self, model_instance, add):
        value = self.compute(model_instance)
        setattr(model_instance, self.attname, value)
        return value


SearchTokensField.register_lookup(TokenMatch)


def derived_fields(model) -> list[models.Field]:
    """The model's blind-index columns (recomputed by ``rotate_keys``)."""
    return [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField | SearchTokensField)]
