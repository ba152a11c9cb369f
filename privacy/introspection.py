"""Which tables hold rows about a member, found from the models themselves.

Erasure and export walk this list instead of a hand-kept one, so a model added later that
points at a member (directly, or through a session, an enrollment, a trigger…) is erased and
exported without anyone remembering to add it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.db import models

from profiles.models import TelegramUser


@dataclass(frozen=True)
class MemberRelation:
    model: type[models.Model]
    lookup: str  # ORM path from a row of ``model`` to the member's pk, e.g. "session__user"

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def depth(self) -> int:
        return self.lookup.count("__") + 1

    def rows(self, user_pk: int) -> models.QuerySet:
        return self.model._base_manager.filter(**{self.lookup: user_pk})


def _links_to(target: type[models.Model]) -> list[tuple[type[models.Model], models.Field]]:
    """(model, field) for every forward FK/one-to-one pointing at ``target`` (auto-created
    many-to-many tables and history tables included)."""
    links = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if field.is_relation and (field.many_to_one or field.one_to_one) and field.related_model is target:
                links.append((model, field))
    return links


def member_relations() -> list[MemberRelation]:
    """Every model with rows about a member, deepest first (the order erasure deletes in)."""
    found: dict[type[models.Model], MemberRelation] = {}
    frontier: list[tuple[type[models.Model], str]] = [(TelegramUser, "")]
    while frontier:
        target, path = frontier.pop(0)
        for model, field in _links_to(target):
            if model is TelegramUser or model in found:
                continue
            lookup = field.name if not path else f"{field.name}__{path}"
            found[model] = MemberRelation(model=model, lookup=lookup)
            frontier.append((model, lookup))
    return sorted(found.values(), key=lambda r: (-r.depth, r.label))


@cache
def member_models() -> frozenset[type[models.Model]]:
    """The member model and every model with rows about a member."""
    return frozenset({TelegramUser, *(r.model for r in member_relations())})
