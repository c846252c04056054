"""The OCI runtime spec (config.json) for a container: a pure function of what it runs.

Defaults follow Docker's: its 14 capabilities, masked and read-only /proc and /sys paths, the
device allow-list, a private /dev, and rlimits no higher than the engine's own (runc cannot raise
a hard limit without CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import dataclasses
import resource
from pathlib import Path
from typing import Any

DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# c = char device, major, minor: the devices every container may use (Docker's list)
ALLOWED_DEVICES = (
    ("c", 1, 3),
    ("c", 1, 5),
    ("c", 1, 7),
    ("c", 1, 8),
    ("c", 1, 9),
    ("c", 5, 0),
    ("c", 5, 1),
    ("c", 5, 2),
    ("c", 136, -1),
    ("c", 10, 200),
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclasses.dataclass(frozen=True)
class BindMount:
    source: Path
    target: str
    read_only: bool = False


@dataclasses.dataclass(frozen=True)
class TmpfsMount:
    target: str
    options: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Limits:
    memory: int = 0
    nano_cpus: int = 0
    pids: int = 0
    cpu_shares: int = 0


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything the spec depends on, already resolved against the image."""

    args: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    tty: bool
    hostname: str
    rootfs: Path
    cgroups_path: str
    netns: str | None  # a namespace file; None shares the host's network
    etc_files: dict[str, Path]  # /etc/hosts, /etc/resolv.conf, /etc/hostname → host files
    binds: tuple[BindMount, ...] = ()
    tmpfs: tuple[TmpfsMount, ...] = ()
    read_only: bool = False
    no_new_privileges: bool = False
    limits: Limits = Limits()
    init: Path | None = None  # a static init binary to run as PID 1
    seccomp: dict[str, Any] | None = None
    domainname: str = ""


def build(spec: RunSpec) -> dict[str, Any]:
    args = list(spec.args)
    mounts = _base_mounts()
    if spec.init is not None:
        mounts.append(_bind(spec.init, "/dev/init", ro=True))
        args = ["/dev/init", "--", *args]
    for target, source in sorted(spec.etc_files.items()):
        mounts.append(_bind(source, target, ro=False))
    for tmp in spec.tmpfs:
        options = ["nosuid", "nodev", *(tmp.options or ("mode=1777",))]
        mounts.append(
            {"destination": tmp.target, "type": "tmpfs", "source": "tmpfs", "options": options}
        )
    for bind in spec.binds:
        mounts.append(_bind(bind.source, bind.target, ro=bind.read_only))
    namespaces: list[dict[str, str]] = [
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
    ]
    if spec.netns is not None:
        namespaces.append({"type": "network", "path": spec.netns})
    caps = list(DEFAULT_CAPS)
    process: dict[str, Any] = {
        "terminal": spec.tty,
        "user": {
            "uid": spec.uid,
            "gid": spec.gid,
            "additionalGids": list(spec.additional_gids),
        },
        "args": args,
        "env": list(spec.env),
        "cwd": spec.cwd or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": _rlimits(),
        "noNewPrivileges": spec.no_new_privileges,
        "oomScoreAdj": 0,
    }
    if spec.tty:
        process["consoleSize"] = {"height": 24, "width": 80}
    linux: dict[str, Any] = {
        "cgroupsPath": spec.cgroups_path,
        "resources": _resources(spec.limits),
        "namespaces": namespaces,
        "maskedPaths": list(MASKED_PATHS),
        "readonlyPaths": list(READONLY_PATHS),
    }
    if spec.seccomp is not None:
        linux["seccomp"] = spec.seccomp
    config: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": str(spec.rootfs), "readonly": spec.read_only},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux,
    }
    if spec.domainname:
        config["domainname"] = spec.domainname
    return config


def _bind(source: Path, target: str, *, ro: bool) -> dict[str, Any]:
    options = ["rbind", "rprivate"] + (["ro"] if ro else [])
    return {"destination": target, "type": "bind", "source": str(source), "options": options}


def _base_mounts() -> list[dict[str, Any]]:
    def m(dest: str, kind: str, source: str, *options: str) -> dict[str, Any]:
        return {"destination": dest, "type": kind, "source": source, "options": list(options)}

    return [
        m("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
        m("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ),
        m("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        m("/sys/fs/cgroup", "cgroup", "cgroup", "ro", "nosuid", "noexec", "nodev"),
        m("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        m("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=67108864"),
    ]


def _rlimits() -> list[dict[str, Any]]:
    limits = []
    for name, wanted in (("RLIMIT_NOFILE", 1048576), ("RLIMIT_NPROC", 0)):
        _, hard = resource.getrlimit(getattr(resource, name))
        if name == "RLIMIT_NPROC":
            continue  # inherit: raising it fails without CAP_SYS_RESOURCE, lowering breaks shells
        cap = hard if hard != resource.RLIM_INFINITY else wanted
        value = min(wanted, cap)
        limits.append({"type": name, "soft": value, "hard": value})
    return limits


def _resources(limits: Limits) -> dict[str, Any]:
    devices: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for kind, major, minor in ALLOWED_DEVICES:
        devices.append(
            {"allow": True, "type": kind, "major": major, "minor": minor, "access": "rwm"}
        )
    res: dict[str, Any] = {"devices": devices}
    if limits.memory > 0:
        res["memory"] = {"limit": limits.memory, "swap": limits.memory}
    cpu: dict[str, Any] = {}
    if limits.nano_cpus > 0:
        period = 100_000
        cpu.update(period=period, quota=limits.nano_cpus * period // 1_000_000_000)
    if limits.cpu_shares > 0:
        cpu["shares"] = limits.cpu_shares
    if cpu:
        res["cpu"] = cpu
    if limits.pids > 0:
        res["pids"] = {"limit": limits.pids}
    return res
