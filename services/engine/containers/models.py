"""What a container is, as the engine's domain sees it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

CREATED, RUNNING, PAUSED, RESTARTING, EXITED, DEAD = (
    "created",
    "running",
    "paused",
    "restarting",
    "exited",
    "dead",
)
LIVE_STATES = (RUNNING, PAUSED, RESTARTING)


@dataclasses.dataclass(frozen=True)
class Mount:
    type: str  # bind, volume or tmpfs
    source: str
    target: str
    read_only: bool = False
    options: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Port:
    """A port published on the host; host_port 0 asks for a free one."""

    protocol: str
    container_port: int
    host_ip: str = ""
    host_port: int = 0


@dataclasses.dataclass(frozen=True)
class Wiring:
    """What a container asks of its network beyond joining it: ports, a fixed address, aliases."""

    ports: tuple[Port, ...] = ()
    ip_address: str = ""
    aliases: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0


@dataclasses.dataclass(frozen=True)
class Resources:
    memory: int = 0
    nano_cpus: int = 0
    pids_limit: int = 0
    cpu_shares: int = 0


@dataclasses.dataclass(frozen=True)
class Healthcheck:
    """Docker's healthcheck config. ``test`` is ["NONE"], ["CMD", ...] or ["CMD-SHELL", "..."];
    an empty test or a zero duration (nanoseconds) means "the image's", then Docker's default."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclasses.dataclass(frozen=True)
class HealthResult:
    """One probe: when it ran (RFC 3339), its exit code (-1: it could not run) and output."""

    start: str
    end: str
    exit_code: int
    output: str


@dataclasses.dataclass
class Health:
    """A container's health as its probes found it: starting, healthy or unhealthy."""

    status: str = "starting"
    failing_streak: int = 0
    log: list[HealthResult] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """What the user asked for, fixed at create. Empty values mean "the image's" or default."""

    image: str
    cmd: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    has_entrypoint: bool = False
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    hostname: str = ""
    domainname: str = ""
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    stop_signal: str = ""
    stop_timeout: int = -1
    network_mode: str = ""
    auto_remove: bool = False
    restart_policy: RestartPolicy = RestartPolicy()
    mounts: tuple[Mount, ...] = ()
    resources: Resources = Resources()
    read_only: bool = False
    init: bool = False
    exposed_ports: tuple[str, ...] = ()
    no_new_privileges: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    docker_config_json: str = ""
    ports: tuple[Port, ...] = ()
    publish_all_ports: bool = False
    ip_address: str = ""
    network_aliases: tuple[str, ...] = ()
    healthcheck: Healthcheck | None = None  # None: the image's


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The spec merged with the image's config: what really runs."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    working_dir: str
    user: str
    hostname: str
    labels: dict[str, str]
    stop_signal: str
    stop_timeout: int
    healthcheck: Healthcheck | None = None  # None: no probes (none configured, or NONE)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """The container's interface on one network, as netd set it up."""

    network: str  # the network's name
    network_id: str
    ip_address: str
    prefix_length: int
    gateway: str
    mac_address: str
    id: str  # the endpoint's id in netd
    aliases: tuple[str, ...] = ()  # other names the container has on that network


@dataclasses.dataclass(frozen=True)
class Sandbox:
    """The container's network, as netd set it up: an endpoint on each network it is on, the
    one it was created on first (none after it was disconnected from every network)."""

    mode: str  # bridge (own namespace, on networks), none, host, or container:<id> (another's)
    netns: str  # "" for host networking
    hosts: str
    resolv_conf: str
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[Port, ...] = ()


@dataclasses.dataclass
class Container:
    """One container record. ``state`` and the fields after it change as it runs."""

    id: str
    name: str
    image_id: str
    spec: ContainerSpec
    resolved: Resolved
    created: str
    state: str = CREATED
    pid: int = 0
    conmon_pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    restart_count: int = 0
    manually_stopped: bool = False
    sandbox: Sandbox | None = None
    health: Health | None = None  # written only by the health monitor

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def running(self) -> bool:
        return self.state in LIVE_STATES


@dataclasses.dataclass(frozen=True)
class ImageForContainer:
    """What the engine needs of an image to run a container from it."""

    id: str
    config: dict[str, Any]  # the OCI image config's "config" object (Cmd, Env, ...)
    layers: tuple[Path, ...]  # unpacked layer dirs, lowest first


@dataclasses.dataclass(frozen=True)
class ExecRequest:
    """A process to start inside a running container (docker exec)."""

    id: str
    container_id: str
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = ""
    height: int = 0
    width: int = 0


@dataclasses.dataclass(frozen=True)
class Usage:
    """What a container uses now, from its cgroups."""

    memory_usage: int
    memory_limit: int
    cpu_total_ns: int
    pids: int
    block_read: int
    block_write: int
