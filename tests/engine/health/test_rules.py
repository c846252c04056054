"""Docker's healthcheck rules: merging with the image, validating, and judging probe results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.engine.containers.health import config, monitor, probe
from services.engine.containers.models import Health, Healthcheck, HealthResult
from services.kit import errors

S = config.SECOND


def test_merge_takes_each_unset_field_from_the_image() -> None:
    image = Healthcheck(("CMD", "check"), interval=10 * S, timeout=2 * S, retries=5)
    own = Healthcheck((), interval=S)
    assert config.merge(own, image) == Healthcheck(("CMD", "check"), S, 2 * S, 0, 0, 5)
    assert config.merge(None, image) == image
    assert config.merge(Healthcheck(("NONE",)), image) is None
    assert config.merge(None, None) is None
    assert config.merge(Healthcheck((), interval=S), None) is None  # nothing to run


def test_command_of_each_kind() -> None:
    assert config.command(Healthcheck(("CMD", "a", "b c"))) == ("a", "b c")
    assert config.command(Healthcheck(("CMD-SHELL", "exit 1"))) == ("/bin/sh", "-c", "exit 1")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"Test": ["BOGUS", "x"]}, "unknown type of healthcheck"),
        ({"Test": ["CMD"]}, "needs a command"),
        ({"Test": ["CMD", "x"], "Interval": -1}, "can't be negative"),
        ({"Test": ["CMD", "x"], "Timeout": 10}, "less than 1ms"),
        ({"Test": ["CMD", "x"], "Retries": -2}, "retries can't be negative"),
        ({"Test": "CMD x"}, "list of strings"),
        ({"Test": ["CMD", "x"], "Interval": "soon"}, "invalid Healthcheck"),
    ],
)
def test_bad_healthchecks_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        config.from_docker(data)


def test_an_odd_image_healthcheck_counts_as_none() -> None:
    assert config.from_image({"Test": ["BOGUS"]}) is None
    assert config.from_image({"Test": ["CMD", "x"], "Interval": S}) == Healthcheck(
        ("CMD", "x"), interval=S
    )


def _result(at: datetime, code: int) -> HealthResult:
    text = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return HealthResult(text, text, code, "")


def test_failures_count_only_after_the_start_period() -> None:
    started = datetime.now(UTC)
    check = Healthcheck(("CMD", "x"), start_period=10 * S, retries=2)
    health = Health()
    for _ in range(4):
        monitor.record(health, check, _result(started + timedelta(seconds=1), 1), started)
    assert (health.status, health.failing_streak) == ("starting", 0)
    monitor.record(health, check, _result(started + timedelta(seconds=11), 1), started)
    assert (health.status, health.failing_streak) == ("starting", 1)
    monitor.record(health, check, _result(started + timedelta(seconds=12), 1), started)
    assert (health.status, health.failing_streak) == ("unhealthy", 2)
    assert len(health.log) == monitor.KEEP_RESULTS
    monitor.record(health, check, _result(started + timedelta(seconds=13), 0), started)
    assert (health.status, health.failing_streak) == ("healthy", 0)


def test_a_healthy_container_fails_at_once_even_in_its_start_period() -> None:
    started = datetime.now(UTC)
    check = Healthcheck(("CMD", "x"), start_period=60 * S, retries=1)
    health = Health()
    monitor.record(health, check, _result(started, 0), started)
    monitor.record(health, check, _result(started + timedelta(seconds=1), 2), started)
    assert (health.status, health.failing_streak) == ("unhealthy", 1)


def test_default_retries_are_three() -> None:
    started = datetime.now(UTC) - timedelta(hours=1)
    health = Health()
    for n in range(3):
        assert health.status == "starting"
        monitor.record(health, Healthcheck(("CMD", "x")), _result(datetime.now(UTC), 1), started)
        assert health.failing_streak == n + 1
    assert health.status == "unhealthy"


def test_go_durations() -> None:
    assert probe.go_duration(30 * S) == "30s"
    assert probe.go_duration(300_000_000) == "300ms"
    assert probe.go_duration(90 * S) == "1m30s"
    assert probe.go_duration(1_500_000_000) == "1.5s"
    assert probe.go_duration(3 * 3600 * S) == "3h0m0s"
