"""Retention rules: which tags garbage collection removes.

Each repository follows the most specific rule whose pattern covers it (see ``patterns``);
repositories no rule covers keep every tag. A rule keeps a repository's ``keep_last`` most
recently pushed tags and every tag pushed within ``keep_days``; the other tags go, and the
manifests they leave untagged are then collected like any other garbage.
"""

from __future__ import annotations

from collections import defaultdict

from services.registry.domain.access_models import RetentionRule
from services.registry.domain.models import TagRow
from services.registry.domain.patterns import most_specific, parse_pattern

DAY = 86400.0


def expired_tags(tags: list[TagRow], rules: list[RetentionRule], now: float) -> list[TagRow]:
    """The tags ``rules`` do not keep, in repository then tag order."""
    if not rules:
        return []
    candidates = [(parse_pattern(r.pattern), r) for r in rules]
    by_repo: dict[str, list[TagRow]] = defaultdict(list)
    for tag in tags:
        by_repo[tag.repository].append(tag)
    out: list[TagRow] = []
    for repo in sorted(by_repo):
        found = most_specific(repo, candidates)
        if not found:
            continue
        rule = found[0]
        newest = sorted(by_repo[repo], key=lambda t: (t.updated_at, t.name), reverse=True)
        for rank, tag in enumerate(newest):
            kept_by_count = rule.keep_last > 0 and rank < rule.keep_last
            kept_by_age = rule.keep_days > 0 and tag.updated_at >= now - rule.keep_days * DAY
            if not (kept_by_count or kept_by_age):
                out.append(tag)
    return sorted(out, key=lambda t: (t.repository, t.name))
