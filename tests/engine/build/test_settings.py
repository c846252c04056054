"""What metadata instructions write into the image config."""

from __future__ import annotations

import pytest

from services.engine.build import settings
from services.engine.build.dockerfile import Instruction, parse
from services.engine.build.words import Expander
from services.kit import errors


def one(text: str) -> Instruction:
    return parse("FROM scratch\n" + text + "\n").instructions[1]


def test_healthcheck_in_dockers_names_and_nanoseconds() -> None:
    check = settings.healthcheck(
        one(
            "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s "
            "--start-interval=1s --retries=5 CMD curl -f http://localhost/"
        )
    )
    assert check == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 2_000_000_000,
        "StartInterval": 1_000_000_000,
        "Retries": 5,
    }
    assert settings.healthcheck(one('HEALTHCHECK CMD ["true"]')) == {"Test": ["CMD", "true"]}
    assert settings.healthcheck(one("HEALTHCHECK NONE")) == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    "text",
    ["HEALTHCHECK --interval=5x CMD true", "HEALTHCHECK --bogus=1 CMD true", "HEALTHCHECK RUN x",
     "HEALTHCHECK --timeout=1ns CMD true"],
)  # fmt: skip
def test_bad_healthchecks_name_their_line(text: str) -> None:
    with pytest.raises(errors.InvalidArgument, match="Dockerfile:2: HEALTHCHECK"):
        settings.healthcheck(one(text))


def test_env_and_label_pairs() -> None:
    expander = Expander({"B": "bee"})
    assert settings.pairs(one('ENV A=1 C="two words" D=$B'), expander) == [
        ("A", "1"), ("C", "two words"), ("D", "bee")]  # fmt: skip
    assert settings.pairs(one("ENV OLD old style value"), expander) == [("OLD", "old style value")]
    with pytest.raises(errors.InvalidArgument, match="can't find ="):
        settings.pairs(one("LABEL a=1 b"), expander)


def test_ports_and_volumes() -> None:
    expander = Expander({"P": "8080"})
    assert settings.ports(one("EXPOSE $P 53/udp 7000-7002"), expander) == [
        "8080/tcp", "53/udp", "7000/tcp", "7001/tcp", "7002/tcp"]  # fmt: skip
    assert settings.volumes(one('VOLUME ["/a", "/b"]'), expander) == ["/a", "/b"]
    assert settings.volumes(one("VOLUME /c /d"), expander) == ["/c", "/d"]
    with pytest.raises(errors.InvalidArgument, match="invalid containerPort"):
        settings.ports(one("EXPOSE http"), expander)


def test_commands_use_the_stage_shell() -> None:
    assert settings.command(one("CMD echo hi"), ["/bin/bash", "-c"]) == ["/bin/bash", "-c",
                                                                          "echo hi"]  # fmt: skip
    assert settings.command(one('CMD ["a", "b"]'), ["/bin/sh", "-c"]) == ["a", "b"]


def test_metadata_instructions_change_only_the_config() -> None:
    from services.engine.build import metadata
    from services.engine.build.models import Stage

    stage = Stage(0, "", None, {"Cmd": ["sh"], "Env": ["A=1"]})
    expander = Expander(stage.env)
    config, shown = metadata.apply(stage, one("ENV B=$A-2 A=3"), expander)
    assert config["Env"] == ["B=1-2", "A=3"]
    assert shown == "ENV B=1-2 A=3"
    assert stage.config["Env"] == ["A=1"]  # the stage changes when the step is committed
    config, _ = metadata.apply(stage, one('ENTRYPOINT ["app"]'), expander)
    assert config["Entrypoint"] == ["app"]
    assert config["Cmd"] is None  # an inherited CMD does not survive a new ENTRYPOINT
    metadata.apply(stage, one("CMD run"), expander)
    config, _ = metadata.apply(stage, one('ENTRYPOINT ["app"]'), expander)
    assert config["Cmd"] == ["sh"]  # one set in this Dockerfile does
    with pytest.raises(errors.InvalidArgument, match="isn't allowed as an ONBUILD trigger"):
        metadata.apply(stage, one("ONBUILD FROM x"), expander)
    with pytest.raises(errors.InvalidArgument, match="JSON form"):
        metadata.apply(stage, one("SHELL bash -c"), expander)
