"""Docker's network filters, for listing and for pruning: pure functions, no I/O.

Their meaning follows the Docker daemon, since Docker clients send them as they are:

* ``name`` and ``id``: a regular expression searched in the name or id (so a plain word
  matches a part of it, and an id prefix matches the id); any value may match;
* ``label``: ``key`` or ``key=value``; *every* value must match (Docker's rule for labels);
* ``driver``: exact; ``scope``: "local" (every network here is local);
* ``type``: "custom" (user-defined) or "builtin" (the default network);
* ``dangling``: "true" for networks no container uses that are not built in, "false" for the
  others (a built-in network always counts as used);
* for pruning: ``label``, ``label!`` (none of the labels) and ``until`` (created before a
  Unix time, an RFC 3339 time, or a duration such as "24h" before now).

An unknown key or a bad value is refused (INVALID_ARGUMENT, FILTER_INVALID) instead of being
ignored: ignoring a typo in a prune filter would remove networks the caller meant to keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from services.kit import errors
from services.netd.domain.models import Network

Filters = Mapping[str, Sequence[str]]

LIST_KEYS = ("name", "id", "label", "driver", "type", "scope", "dangling")
PRUNE_KEYS = ("label", "label!", "until")
_TRUE = ("true", "1")
_FALSE = ("false", "0")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def list_matcher(filters: Filters) -> Callable[[Network, int], bool]:
    """A test of (network, number of endpoints) against list filters, checked up front."""
    _check_keys(filters, LIST_KEYS)
    for value in filters.get("type", ()):
        if value not in ("custom", "builtin"):
            raise _invalid("type", value)
    for value in filters.get("dangling", ()):
        if value.lower() not in (*_TRUE, *_FALSE):
            raise _invalid("dangling", value)

    def test(network: Network, endpoints: int) -> bool:
        return (
            _any(filters, "name", lambda v: _search(v, network.name))
            and _any(filters, "id", lambda v: _search(v, network.id))
            and _any(filters, "driver", lambda v: v == network.driver)
            and _any(filters, "scope", lambda v: v == "local")
            and _any(filters, "type", lambda v: (v == "builtin") == network.builtin)
            and _any(filters, "dangling", lambda v: _dangling(v, network, endpoints))
            and labels_match(filters.get("label", ()), dict(network.labels))
        )

    return test


def prune_matcher(filters: Filters, now: datetime | None = None) -> Callable[[Network], bool]:
    """A test of a network against prune filters (which networks may go), checked up front."""
    _check_keys(filters, PRUNE_KEYS)
    until = [_instant(v, now or datetime.now(UTC)) for v in filters.get("until", ())]
    wanted, unwanted = filters.get("label", ()), filters.get("label!", ())

    def test(network: Network) -> bool:
        labels = dict(network.labels)
        created = datetime.fromisoformat(network.created_at)
        return (
            labels_match(wanted, labels)
            and not any(labels_match([u], labels) for u in unwanted)
            and all(created < limit for limit in until)
        )

    return test


def labels_match(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    """Every ``key`` or ``key=value`` of ``wanted`` is among ``labels``."""
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def _check_keys(filters: Filters, allowed: Sequence[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise errors.InvalidArgument(
                f"invalid filter {key!r} (allowed: {', '.join(allowed)})", reason="FILTER_INVALID"
            )


def _any(filters: Filters, key: str, test: Callable[[str], bool]) -> bool:
    values = filters.get(key, ())
    return not values or any(test(v) for v in values)


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern in text


def _dangling(value: str, network: Network, endpoints: int) -> bool:
    unused = not network.builtin and endpoints == 0
    return unused if value.lower() in _TRUE else not unused


def _instant(value: str, now: datetime) -> datetime:
    """``until`` as a time: Unix seconds, RFC 3339, or a Go-style duration before ``now``."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError):
        pass
    if _DURATION.match(value):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
        return now - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid("until", value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _invalid(key: str, value: str) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"invalid filter: {key!r}={value!r}", reason="FILTER_INVALID")
