"""Docker Engine API JSON shapes built from what the services report. Explicit, field by field."""

from __future__ import annotations

import hashlib
import platform
from typing import Any

from services.gateway.middleware import API_VERSION, MIN_API_VERSION
from services.gateway.status import SystemStatus
from services.kit.version import GIT_COMMIT, VERSION

# uname -m → the GOARCH names Docker clients expect in /version
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def version(status: SystemStatus) -> dict[str, Any]:
    """``GET /version``: the engine is the server; the other services are listed as components."""
    engine = status.engine.require()
    arch = GO_ARCH.get(engine.host.architecture, engine.host.architecture)
    details = {
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": engine.service.git_commit,
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": engine.host.kernel_version,
        "BuildTime": "",
        "Experimental": "false",
    }
    components: list[dict[str, Any]] = [
        {"Name": "Engine", "Version": engine.service.version, "Details": details}
    ]
    for probe in (status.netd, status.registry):
        info = probe.info
        components.append(
            {
                "Name": f"estiba-{probe.name}",
                "Version": info.service.version if info else "unavailable",
                "Details": {"Status": probe.status, "Address": probe.target},
            }
        )
    components.append(
        {"Name": "estiba-gateway", "Version": VERSION, "Details": {"GitCommit": GIT_COMMIT}}
    )
    if engine.runtime_version:
        components.append(
            {"Name": engine.runtime, "Version": engine.runtime_version, "Details": {}}
        )
    return {
        "Platform": {"Name": f"estiba {VERSION}"},
        "Components": components,
        "Version": engine.service.version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": engine.service.git_commit,
        "GoVersion": details["GoVersion"],
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": engine.host.kernel_version,
        "BuildTime": "",
    }


def services(status: SystemStatus) -> list[dict[str, Any]]:
    """estiba's own view of its services (``Estiba.Services`` in /info, and the CLI's table)."""
    rows: list[dict[str, Any]] = []
    for probe in status.probes():
        info = probe.info.service if probe.info else None
        rows.append(
            {
                "Name": probe.name,
                "Status": probe.status,
                "Address": probe.target,
                "Version": info.version if info else "",
                "Pid": info.pid if info else 0,
                "StartedAt": info.started_at if info else "",
                "Error": probe.error,
            }
        )
    gw = status.gateway
    rows.append(
        {
            "Name": "gateway",
            "Status": "healthy",
            "Address": "",
            "Version": gw.version,
            "Pid": gw.pid,
            "StartedAt": gw.started_at,
            "Error": "",
        }
    )
    return rows


def info(status: SystemStatus, *, root: str, listen: str) -> dict[str, Any]:
    """``GET /info``. Answers even when a service is down: the Warnings and Estiba say which."""
    engine = status.engine.info
    warnings = [
        f"WARNING: the estiba {p.name} service is {p.status} ({p.error or p.target})"
        for p in status.probes()
        if p.status != "healthy"
    ]
    host = engine.host if engine else None
    registry = status.registry.info
    netd = status.netd.info
    node = status.gateway.node_name
    return {
        "ID": hashlib.sha256(f"{node}:{root}".encode()).hexdigest()[:12].upper(),
        "Name": host.hostname if host else node,
        "ServerVersion": VERSION,
        "Containers": engine.containers if engine else 0,
        "ContainersRunning": engine.containers_running if engine else 0,
        "ContainersPaused": engine.containers_paused if engine else 0,
        "ContainersStopped": engine.containers_stopped if engine else 0,
        "Images": engine.images if engine else 0,
        "Driver": engine.storage_driver if engine else "",
        "DriverStatus": [],
        "DockerRootDir": root,
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "OomKillDisable": False,
        "IPv4Forwarding": True,
        "Debug": False,
        "NFd": 0,
        "NGoroutines": 0,
        "SystemTime": status.gateway.started_at,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": host.cgroup_version if host else "",
        "NEventsListener": 0,
        "KernelVersion": host.kernel_version if host else "",
        "OperatingSystem": host.operating_system if host else "",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": host.architecture if host else "",
        "NCPU": host.ncpu if host else 0,
        "MemTotal": host.mem_total if host else 0,
        "IndexServerAddress": registry.http_address if registry else "",
        "RegistryConfig": {
            "IndexConfigs": {},
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        },
        "Runtimes": {engine.runtime: {"path": engine.runtime}} if engine else {},
        "DefaultRuntime": engine.runtime if engine else "",
        "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False, "NodeID": ""},
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": engine.runtime_version if engine else ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Labels": [],
        "ExperimentalBuild": False,
        "Warnings": warnings,
        "Estiba": {
            "Node": node,
            "Listen": listen,
            "Services": services(status),
            "Registry": {
                "Address": registry.http_address if registry else "",
                "Repositories": registry.repositories if registry else 0,
                "Blobs": registry.blobs if registry else 0,
                "BlobBytes": registry.blob_bytes if registry else 0,
            },
            "Networks": netd.networks if netd else 0,
        },
    }
