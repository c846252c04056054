"""The instructions that only change the image config: what each writes, and how the history
shows it. Pure functions of the stage and the instruction; the executor commits the result.
"""

from __future__ import annotations

from typing import Any

from services.engine.build import settings
from services.engine.build.dockerfile import Instruction
from services.engine.build.models import Stage, copy_config
from services.engine.build.words import Expander
from services.kit import errors

KEYWORDS = (
    "ENV", "LABEL", "USER", "STOPSIGNAL", "EXPOSE", "VOLUME", "CMD", "ENTRYPOINT", "SHELL",
    "HEALTHCHECK", "ONBUILD", "MAINTAINER",
)  # fmt: skip
NOT_IN_ONBUILD = ("ONBUILD", "FROM", "MAINTAINER")


def apply(stage: Stage, instruction: Instruction, expander: Expander) -> tuple[dict[str, Any], str]:
    """The config after ``instruction``, and the instruction as the history shows it ("" for
    as written). CMD, ENTRYPOINT and MAINTAINER also note what they did on ``stage``."""
    config = copy_config(stage.config)
    keyword = instruction.keyword
    text = instruction.text.strip()
    if keyword == "ENV":
        env = list(config.get("Env") or [])
        shown = []
        for key, value in settings.pairs(instruction, expander):
            env = settings.set_env(env, key, value)
            shown.append(f"{key}={value}")
        config["Env"] = env
        return config, "ENV " + " ".join(shown)
    if keyword == "LABEL":
        labels = dict(config.get("Labels") or {})
        labels.update(settings.pairs(instruction, expander))
        config["Labels"] = labels
    elif keyword == "USER":
        config["User"] = expander.word(text)
        return config, "USER " + config["User"]
    elif keyword == "STOPSIGNAL":
        config["StopSignal"] = expander.word(text)
    elif keyword == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        ports.update({p: {} for p in settings.ports(instruction, expander)})
        config["ExposedPorts"] = ports
    elif keyword == "VOLUME":
        volumes = dict(config.get("Volumes") or {})
        volumes.update({p: {} for p in settings.volumes(instruction, expander)})
        config["Volumes"] = volumes
    elif keyword == "CMD":
        config["Cmd"] = settings.command(instruction, stage.shell)
        stage.cmd_set = True
    elif keyword == "ENTRYPOINT":
        config["Entrypoint"] = settings.command(instruction, stage.shell)
        if not stage.cmd_set:  # an inherited CMD does not survive a new ENTRYPOINT
            config["Cmd"] = None
    elif keyword == "SHELL":
        shell = instruction.exec_form
        if not shell:
            raise errors.InvalidArgument("SHELL requires the arguments to be in JSON form")
        config["Shell"] = shell
    elif keyword == "HEALTHCHECK":
        config["Healthcheck"] = settings.healthcheck(instruction)
    elif keyword == "ONBUILD":
        trigger = text.split(" ", 1)[0].upper()
        if trigger in NOT_IN_ONBUILD:
            raise errors.InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
        config["OnBuild"] = [*(config.get("OnBuild") or []), text]
    elif keyword == "MAINTAINER":
        stage.author = expander.word(text)
    else:
        raise errors.InvalidArgument(f"{keyword} does not only change the config")
    return config, ""
