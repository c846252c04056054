"""What a build is asked and what it reports."""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

from services.engine.images.models import ImageRecord
from services.kit import errors


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """Docker's ``POST /build`` parameters that the engine acts on."""

    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: dict[str, str | None] = dataclasses.field(default_factory=dict)
    """``--build-arg``; None for a name given without a value and not set in the client's env."""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    pull: bool = False
    quiet: bool = False
    remove: bool = True
    force_remove: bool = False
    platform: str = ""


@dataclasses.dataclass(frozen=True)
class BuildEvent:
    """One message of the build's progress: text, the image built, or the error that ended it."""

    stream: str = ""
    image_id: str = ""
    error: str = ""
    line: int = 0
    """The Dockerfile line the error is about (0: none)."""
    exit_code: int = 0
    """A failed RUN's exit code."""


class StepFailed(errors.InvalidArgument):
    """A step could not be done; carries the Dockerfile line and a RUN's exit code."""

    def __init__(self, message: str, *, line: int, exit_code: int = 0) -> None:
        super().__init__(message, reason="BUILD_STEP_FAILED")
        self.line = line
        self.exit_code = exit_code


@dataclasses.dataclass
class Stage:
    """One FROM ... section while it is built."""

    index: int
    name: str
    image: ImageRecord | None
    config: dict[str, Any]
    args: dict[str, str | None] = dataclasses.field(default_factory=dict)
    cmd_set: bool = False
    author: str = ""

    @property
    def env(self) -> dict[str, str]:
        """What variables expand to: the stage's ARGs, overridden by its ENV."""
        out = {k: v for k, v in self.args.items() if v is not None}
        for item in self.config.get("Env") or []:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out

    @property
    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or ["/bin/sh", "-c"])


def copy_config(config: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a container config (JSON all the way down)."""
    return json.loads(json.dumps(config))  # type: ignore[no-any-return]


class RecordMemo:
    """The step images a build engine read last (an image's id is the digest of its config,
    so a record read once stays true; whether it still exists is asked of the cache store)."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._records: collections.OrderedDict[str, ImageRecord] = collections.OrderedDict()

    def get(self, image_id: str) -> ImageRecord | None:
        found = self._records.get(image_id)
        if found is not None:
            self._records.move_to_end(image_id)
        return found

    def put(self, image_id: str, record: ImageRecord) -> None:
        self._records[image_id] = dataclasses.replace(record, names=())
        while len(self._records) > self._size:
            self._records.popitem(last=False)
