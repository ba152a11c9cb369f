"""ORM queries compiled once per process and run again with new values.

Django builds and compiles a queryset on every call: for the short, indexed reads of a
conversation turn that costs ~0.3–0.6 ms of CPU each, several times what the database needs to
answer (docs/benchmarks.md). A ``Precompiled`` query is written with the ORM as usual, compiled
the first time it runs (per database alias and vendor), and afterwards only its values change:
the SQL, the parameter positions and the column converters (decryption, JSON) are reused.

    LATEST = Precompiled(lambda user_id: Profile.objects.filter(user_id=user_id).order_by("-version")[:1],
                         user_id=int)
    profile = LATEST.first(user_id=user.pk)

``build`` receives a placeholder for each named value (an ``int``, ``str`` or aware ``datetime``) and
must use it as a plain filter value; compiling finds where each one landed among the query's
parameters and refuses a query where one did not arrive as it was given. What it reads of
Django (the compiler's ``select``, ``klass_info``, ``annotation_col_map`` and converters) is
what Django's own iterables read; ``relove/tests/test_precompiled.py`` compares every shape used
here with the ORM's answer, so a Django upgrade that changes them fails there. Only for fixed
shapes on hot paths: the rest of the code base uses ordinary querysets.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

_SENTINEL_INTS = itertools.count(1)
SENTINEL_INT_BASE = 2_000_000_000  # up to 2**31 - 1: an int, bigint or positive column takes it
SENTINEL_STR_PREFIX = "\x1eprecompiled:"


def _sentinel(kind: type) -> Any:
    n = next(_SENTINEL_INTS)
    if kind is int:
        return SENTINEL_INT_BASE + n  # within every integer column's range, so no lookup drops it
    if kind is datetime:
        return datetime(1901, 2, 3, 4, 5, 6, n % 1_000_000, tzinfo=UTC)
    if kind is str:
        return f"{SENTINEL_STR_PREFIX}{n}"
    raise TypeError(f"precompiled values are int, str or datetime, not {kind.__name__}")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    slots: dict[str, tuple[list[int], Callable[[Any], Any]]]  # name -> (positions, adapt)
    converters: dict[int, tuple[list, Any]]
    model: type[Model] | None  # rows of one model (objects()), else plain rows
    fields: list[tuple[int, str]]  # (column, attname) of the model's own fields
    annotations: list[tuple[int, str]]


class Precompiled:
    def __init__(self, build: Callable[..., QuerySet], **kinds: type):
        self._build = build
        self._kinds = kinds
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> _Compiled:
        connection = connections[alias]
        key = (alias, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        with self._lock:
            if (compiled := self._compiled.get(key)) is not None:  # another thread compiled it meanwhile
                return compiled
            sentinels = {name: _sentinel(kind) for name, kind in self._kinds.items()}
            queryset = self._build(**sentinels)
            compiler = queryset.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            slots = {}
            for name, sentinel in sentinels.items():
                adapt = (connection.ops.adapt_datetimefield_value if isinstance(sentinel, datetime)
                         else (lambda value: value))
                positions = [i for i, param in enumerate(params) if param == adapt(sentinel)]
                if not positions:
                    raise ValueError(f"precompiled value {name!r} is not a parameter of the query")
                slots[name] = (positions, adapt)
            taken = {i for positions, _ in slots.values() for i in positions}
            if any((isinstance(p, int) and p > SENTINEL_INT_BASE) or (isinstance(p, str) and SENTINEL_STR_PREFIX in p)
                   for i, p in enumerate(params) if i not in taken):
                raise ValueError("a precompiled value reached the query in a changed form")
            select = [column for column, _sql, _alias in compiler.select]
            klass_info = compiler.klass_info
            model, fields, annotations = None, [], []
            if queryset._iterable_class is ModelIterable and klass_info and not klass_info.get("related_klass_infos"):
                model = klass_info["model"]
                fields = [(i, select[i].target.attname) for i in klass_info["select_fields"]]
                annotations = [(i, name) for name, i in compiler.annotation_col_map.items()]
            compiled = _Compiled(sql, tuple(params), slots, compiler.get_converters(select), model, fields,
                                 annotations)
            self._compiled[key] = compiled
        return compiled

    def rows(self, *, using: str = "default", **values) -> list[tuple]:
        """The selected columns, converted as the ORM converts them (decrypted, JSON decoded)."""
        compiled = self._compile(using)
        params = list(compiled.params)
        for name, (positions, adapt) in compiled.slots.items():
            value = adapt(values[name])
            for i in positions:
                params[i] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if not compiled.converters:
            return rows
        # Not the compiler's own ``apply_converters``: it passes the compiling thread's connection.
        converted = []
        for row in rows:
            row = list(row)
            for i, (functions, expression) in compiled.converters.items():
                value = row[i]
                for function in functions:
                    value = function(value, expression, connection)
                row[i] = value
            converted.append(tuple(row))
        return converted

    def first(self, *, using: str = "default", **values) -> Model | None:
        """The first instance ``objects`` gives, or None (slice the query to one row in ``build``)."""
        found = self.objects(using=using, **values)
        return found[0] if found else None

    def objects(self, *, using: str = "default", **values) -> list[Model]:
        """Model instances, as iterating the queryset gives them (annotations set as attributes)."""
        compiled = self._compile(using)
        if compiled.model is None:
            raise TypeError("objects() needs a queryset of model instances; use rows()")
        attnames = [name for _, name in compiled.fields]
        found = []
        for row in self.rows(using=using, **values):
            instance = compiled.model.from_db(using, attnames, [row[i] for i, _ in compiled.fields])
            for i, name in compiled.annotations:
                setattr(instance, name, row[i])
            found.append(instance)
        return found


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[Model], names: tuple[str, ...], count: int, alias: str, vendor: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    row = f"({', '.join(['%s'] * len(names))})"
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * count)}"  # noqa: S608


@dataclass(frozen=True)
class Statement:
    """One hand-written SQL statement (``%s`` placeholders, no ``;``) and its prepared values."""

    sql: str
    params: list


def insert_statement(model: type[Model], names: tuple[str, ...], rows: list[tuple], *,
                     using: str = "default") -> Statement | None:
    """``INSERT`` of ``rows`` (values of the fields ``names``, in order) as one statement, each value
    prepared by its field as ``bulk_create`` prepares it (encrypted, JSON, a model's key); None
    when there is nothing to insert.

    ``bulk_create`` builds its SQL and every object's state on each call (~0.4 ms for two log
    rows); this builds the SQL once per shape. No defaults are filled in and no signals sent
    (``bulk_create`` sends none either): give every column the table needs.
    """
    if not rows:
        return None
    connection = connections[using]
    fields = [model._meta.get_field(name) for name in names]
    params = [field.get_db_prep_save(value, connection) for row in rows
              for field, value in zip(fields, row, strict=True)]
    return Statement(_insert_sql(model, names, len(rows), using, connection.vendor), params)


def execute_together(statements: list[Statement | None], *, using: str = "default") -> list[list[tuple]]:
    """Run ``statements`` in order, all or nothing, and return each one's rows (``[]`` for a
    statement that returns none); ``None`` entries are skipped.

    On PostgreSQL with client-side binding (Django's default with psycopg 3) they travel as one
    query: one round trip, and one implicit transaction, so one commit, where a transaction of
    its own costs ``BEGIN``, a round trip per statement and ``COMMIT``. Elsewhere (SQLite, or
    ``server_side_binding``) they run one by one, in a transaction when there are several.
    Inside an open transaction they are part of it either way.
    """
    statements = [statement for statement in statements if statement is not None]
    if not statements:
        return []
    connection = connections[using]
    if len(statements) > 1 and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if isinstance(cursor.cursor, psycopg.ClientCursor):
                cursor.execute("; ".join(statement.sql for statement in statements),
                               [param for statement in statements for param in statement.params])
                results = []
                while True:
                    results.append(cursor.fetchall() if cursor.description is not None else [])
                    if not cursor.nextset():
                        break
                if len(results) != len(statements):
                    raise ValueError(f"{len(statements)} statements gave {len(results)} results (a ';' inside one?)")
                return results
    with transaction.atomic(using=using) if len(statements) > 1 else contextlib.nullcontext():
        with connection.cursor() as cursor:
            results = []
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                results.append(cursor.fetchall() if cursor.description is not None else [])
    return results
