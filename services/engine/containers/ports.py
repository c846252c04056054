"""What the container domain needs from the rest of the engine and from netd."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

from services.engine.containers.models import (
    Container,
    Endpoint,
    ExecRequest,
    ImageForContainer,
    Sandbox,
    Usage,
    Wiring,
)


class Images(Protocol):
    async def for_container(self, ref: str) -> ImageForContainer:
        """The image ``ref`` names (reference or id) with its layers unpacked.

        Raises NotFound when the node does not have it.
        """
        ...


class Sandboxes(Protocol):
    async def create(
        self,
        container_id: str,
        mode: str,
        hostname: str,
        name: str = "",
        wiring: Wiring | None = None,
    ) -> Sandbox:
        """Create (or return the existing) network sandbox of a container; ``name`` is what
        other containers on user-defined networks resolve it by."""
        ...

    async def remove(self, container_id: str) -> None:
        """Remove the sandbox; fine if it does not exist."""
        ...

    async def rename(self, container_id: str, name: str) -> None:
        """Tell netd the container's new name, so the names other containers resolve follow.

        Raises NotFound when the container has no sandbox of its own.
        """
        ...

    async def current(self, container_id: str) -> Sandbox:
        """The sandbox as it is now: every endpoint the container has (networks joined and left
        since it was made included), and its /etc/hosts and /etc/resolv.conf, which netd renders
        from all of them. NotFound when it has no sandbox."""
        ...

    async def all_endpoints(self) -> dict[str, tuple[Endpoint, ...]]:
        """Every sandbox's endpoints as they are now, by container id (one call)."""
        ...


class Records(Protocol):
    """Where container records are kept (services.engine.store.containers)."""

    async def insert(self, c: Container) -> None: ...
    async def update(self, c: Container) -> None: ...
    async def retire(self, container_id: str, image_id: str) -> None:
        """Delete the record and note its teardown, in one transaction."""
        ...

    async def root_down(self, container_id: str) -> None: ...
    async def torn_down(self, container_id: str) -> None: ...
    async def teardowns(self) -> list[str]: ...
    async def all(self) -> list[Container]: ...
    async def find(self, ref: str) -> Container:
        """By id, name or unique id prefix; NotFound otherwise."""
        ...


class Runtime(Protocol):
    """What runs containers (services.engine.runtime.runner)."""

    def prepare(self, c: Container) -> None: ...
    def write_etc_files(self, c: Container) -> None: ...
    async def start(
        self,
        c: Container,
        image: ImageForContainer,
        before_start: Callable[[AttachPaths], Awaitable[None]],
    ) -> tuple[int, int]: ...
    async def wait_exit(self, c: Container) -> tuple[int, bool]: ...
    async def cleanup(self, c: Container) -> None: ...
    async def remove(self, container_id: str) -> None: ...
    async def kill(self, c: Container, signal: str) -> None: ...
    async def pause(self, c: Container) -> None: ...
    async def resume(self, c: Container) -> None: ...
    def resize(self, c: Container, height: int, width: int) -> None: ...
    def is_alive(self, c: Container) -> bool: ...
    def attach_paths(self, c: Container) -> AttachPaths: ...
    async def top(self, c: Container) -> list[list[str]]: ...
    async def exec(self, c: Container, request: ExecRequest) -> Process: ...
    def usage(self, c: Container, host_memory: int) -> Usage: ...
    def log_path(self, cid: str) -> Path: ...


class AttachPaths(Protocol):
    @property
    def attach_socket(self) -> Path: ...


class Process(Protocol):
    """A process started in a running container (an exec)."""

    pid: int

    async def wait(self) -> int: ...
    def kill(self) -> None: ...
    async def write(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...
    def resize(self, height: int, width: int) -> None: ...
    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...


class Volumes(Protocol):
    async def create(self, name: str = "") -> object:
        """Make the named volume if it does not exist yet."""
        ...
