"""A value a listing's row offers but works out only when a format asks for it."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Lazy:
    """A value worked out only if a template (or ``json``) asks for it: a listing's rows offer
    every field docker offers, though a format usually shows a few."""

    __slots__ = ("_compute",)

    def __init__(self, compute: Callable[[], Any]) -> None:
        self._compute = compute

    def __call__(self) -> Any:
        return self._compute()
