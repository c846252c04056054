"""Engine events as dockerd writes them, and the since/until values clients send."""

from __future__ import annotations

import pytest

from estiba.engine.v1 import events_pb2 as pb
from services.gateway.docker import events_out
from services.kit import errors


def test_container_events_carry_the_legacy_fields() -> None:
    e = pb.Event(type="container", action="die", actor_id="abc", scope="local",
                 time_nano=1_700_000_000_123_456_789)  # fmt: skip
    e.attributes.update({"image": "busybox", "exitCode": "3"})
    assert events_out.message(e) == {
        "status": "die",
        "id": "abc",
        "from": "busybox",
        "Type": "container",
        "Action": "die",
        "Actor": {"ID": "abc", "Attributes": {"image": "busybox", "exitCode": "3"}},
        "scope": "local",
        "time": 1_700_000_000,
        "timeNano": 1_700_000_000_123_456_789,
    }
    network = events_out.message(pb.Event(type="network", action="create", actor_id="n"))
    assert "status" not in network
    assert "id" not in network


def test_timestamps() -> None:
    assert events_out.timestamp(None, "since") == 0
    assert events_out.timestamp("1700000000", "since") == 1_700_000_000_000_000_000
    assert events_out.timestamp("1700000000.000000123", "until") == 1_700_000_000_000_000_123
    assert events_out.timestamp("1700000000.5", "until") == 1_700_000_000_500_000_000
    for bad in ("soon", "1.2.3", "1e9"):
        with pytest.raises(errors.InvalidArgument):
            events_out.timestamp(bad, "since")
