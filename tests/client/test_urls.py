"""client.urls encodes as urllib.parse does, for the characters the CLI sends."""

from __future__ import annotations

import urllib.parse

import pytest

from client import urls

SAMPLES = [
    "busybox",
    "reg.example:5000/team/app:v1",
    "a b",
    "ä/ü?x=1&y",
    "sha256:ab@cd",
    "~._-",
    "",
]


@pytest.mark.parametrize("text", SAMPLES)
@pytest.mark.parametrize("safe", ["/", "", "/:@", "/:"])
def test_quote_matches_urllib(text: str, safe: str) -> None:
    assert urls.quote(text, safe) == urllib.parse.quote(text, safe=safe)


def test_urlencode_takes_a_mapping_or_repeated_pairs_and_decodes_back() -> None:
    assert urls.urlencode({"all": "1", "filters": '{"label": ["a=b c"]}'}) == (
        "all=1&filters=%7B%22label%22%3A%20%5B%22a%3Db%20c%22%5D%7D"
    )
    pairs = [("names", "busybox:latest"), ("names", "ä b")]
    assert urllib.parse.parse_qsl(urls.urlencode(pairs)) == pairs
