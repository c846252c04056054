"""Scopes of the Docker token protocol: ``repository:<name>:<actions>`` and
``registry:catalog:*``.

A scope names a resource and the actions asked for it. The token endpoint takes several (one per
``scope`` parameter, or separated by spaces), refuses malformed ones with SCOPE_INVALID, and
grants for each only the actions the principal holds. ``*`` asks for every action held.
"""

from __future__ import annotations

import dataclasses

from services.kit import errors
from services.registry.domain.access_models import ACTIONS
from services.registry.domain.names import validate_name

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"
WILDCARD = "*"


@dataclasses.dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def scope_invalid(text: str, why: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid scope {text[:120]!r}: {why}", reason="SCOPE_INVALID")


def parse_scope(text: str) -> Scope:
    """One scope; SCOPE_INVALID if it is not ``repository:<name>:<actions>`` or
    ``registry:catalog:*``."""
    kind, sep1, rest = text.partition(":")
    name, sep2, actions_text = rest.rpartition(":")
    if not sep1 or not sep2 or not name or not actions_text:
        raise scope_invalid(text, "expected <type>:<name>:<actions>")
    kind = kind.split("(", 1)[0]  # "repository(plugin)" is a repository of another class
    actions = tuple(a for a in actions_text.split(",") if a)
    if kind == REGISTRY:
        if name != CATALOG or actions != (WILDCARD,):
            raise scope_invalid(text, "the only registry scope is registry:catalog:*")
        return Scope(REGISTRY, CATALOG, actions)
    if kind != REPOSITORY:
        raise scope_invalid(text, f"unknown resource type {kind!r}")
    try:
        validate_name(name)
    except errors.InvalidArgument as exc:
        raise scope_invalid(text, exc.message) from exc
    unknown = [a for a in actions if a != WILDCARD and a not in ACTIONS]
    if unknown or not actions:
        raise scope_invalid(
            text, f"actions must be among {', '.join(ACTIONS)} or *, not {actions_text!r}"
        )
    return Scope(REPOSITORY, name, actions)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every scope of the ``scope`` parameters (each may hold several, space-separated)."""
    return [parse_scope(item) for value in values for item in value.split() if item]
