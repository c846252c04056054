"""Engine containers → Docker's ContainerJSON (inspect) and ContainerSummary (list).

Docker clients dereference State, Config, HostConfig and NetworkSettings without checking, so
these objects are always complete.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import Any

from estiba.engine.v1 import containers_pb2 as pb
from services.gateway.docker import networks_out

ZERO_TIME = "0001-01-01T00:00:00Z"


def _time(value: str) -> str:
    return value or ZERO_TIME


def _unix(value: str) -> int:
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _given(c: pb.Container) -> dict[str, Any]:
    try:
        data = json.loads(c.spec.docker_config_json or "{}")
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def config(c: pb.Container) -> dict[str, Any]:
    s = c.spec
    return {
        "Hostname": c.effective_hostname or c.id[:12],
        "Domainname": s.domainname,
        "User": c.effective_user,
        "AttachStdin": s.attach_stdin,
        "AttachStdout": s.attach_stdout,
        "AttachStderr": s.attach_stderr,
        "ExposedPorts": {p: {} for p in s.exposed_ports} or None,
        "Tty": s.tty,
        "OpenStdin": s.open_stdin,
        "StdinOnce": s.stdin_once,
        "Env": list(c.effective_env),
        "Cmd": list(s.cmd) if s.cmd else _image_cmd(c),
        "Image": s.image,
        "Volumes": {m.target: {} for m in s.mounts if m.type == "volume"} or None,
        "WorkingDir": "" if c.effective_working_dir == "/" else c.effective_working_dir,
        "Entrypoint": list(s.entrypoint) if s.has_entrypoint else None,
        "OnBuild": None,
        "Labels": dict(c.effective_labels),
        "StopSignal": s.stop_signal or None,
        "StopTimeout": s.stop_timeout if s.stop_timeout >= 0 else None,
        **({"Healthcheck": healthcheck(c.effective_healthcheck)} if _has_check(c) else {}),
    }


def _has_check(c: pb.Container) -> bool:
    return c.HasField("effective_healthcheck") or (
        c.spec.HasField("healthcheck") and list(c.spec.healthcheck.test[:1]) == ["NONE"]
    )


def healthcheck(h: pb.Healthcheck) -> dict[str, Any]:
    """Config.Healthcheck; with ["NONE"] given, that is what is shown."""
    out: dict[str, Any] = {"Test": list(h.test) or ["NONE"]}
    for key, value in (
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
        ("Retries", h.retries),
    ):
        if value:
            out[key] = value
    return out


def _image_cmd(c: pb.Container) -> list[str]:
    given = _given(c)
    if given.get("Entrypoint") is not None:
        return []
    return list(c.path_and_args)


def host_config(c: pb.Container) -> dict[str, Any]:
    given = _given(c).get("HostConfig") or {}
    s = c.spec
    base: dict[str, Any] = {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": s.network_mode or "bridge",
        "PortBindings": {},
        "RestartPolicy": {
            "Name": s.restart_policy.name or "no",
            "MaximumRetryCount": s.restart_policy.maximum_retry_count,
        },
        "AutoRemove": s.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "host",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": s.read_only,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67108864,
        "Runtime": "runc",
        "Isolation": "",
        "CpuShares": s.resources.cpu_shares,
        "Memory": s.resources.memory,
        "NanoCpus": s.resources.nano_cpus,
        "CgroupParent": "",
        "PidsLimit": s.resources.pids_limit or None,
        "Init": s.init or None,
        "MaskedPaths": [],
        "ReadonlyPaths": [],
        "Tmpfs": None,
        "Mounts": None,
    }
    base.update({k: v for k, v in given.items() if k in base or k not in ("ConsoleSize",)})
    base["NetworkMode"] = s.network_mode or "bridge"
    return base


def state(c: pb.Container) -> dict[str, Any]:
    st = c.state
    return {
        "Status": st.status,
        "Running": st.status in ("running", "paused", "restarting"),
        "Paused": st.status == "paused",
        "Restarting": st.status == "restarting",
        "OOMKilled": st.oom_killed,
        "Dead": st.status == "dead",
        "Pid": st.pid,
        "ExitCode": st.exit_code,
        "Error": st.error,
        "StartedAt": _time(st.started_at),
        "FinishedAt": _time(st.finished_at),
        **({"Health": health(st.health)} if st.HasField("health") else {}),
    }


def health(h: pb.Health) -> dict[str, Any]:
    return {
        "Status": h.status,
        "FailingStreak": h.failing_streak,
        "Log": [
            {"Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output}
            for r in h.log
        ],
    }


def network_settings(c: pb.Container) -> dict[str, Any]:
    """Every network the container is on, from the engine's record (which follows connects and
    disconnects).

    The top-level address fields are Docker's deprecated copy of the endpoint on the default
    network "bridge": empty for a container only on user-defined networks, as dockerd has them.
    """
    networks: dict[str, Any] = {}
    if not c.spec.network_mode.startswith("container:"):  # else no endpoint of its own
        for n in c.networks:
            static = c.spec.ip_address if c.spec.network_mode in (n.name, n.network_id) else ""
            networks[n.name] = networks_out.endpoint_settings(
                n, name=c.name, short_id=c.id[:12], static_ip=static
            )
    default = networks.get("bridge", {})
    return {
        "Bridge": "",
        "SandboxID": c.id if c.netns_path and networks else "",
        "SandboxKey": c.netns_path if networks else "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_view(c),
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": default.get("EndpointID", ""),
        "Gateway": default.get("Gateway", ""),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": default.get("IPAddress", ""),
        "IPPrefixLen": default.get("IPPrefixLen", 0),
        "IPv6Gateway": "",
        "MacAddress": default.get("MacAddress", ""),
        "Networks": networks,
    }


def ports_view(c: pb.Container) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed port, with its host bindings (null when none)."""
    view: dict[str, Any] = {p: None for p in c.spec.exposed_ports}
    for p in c.published_ports:
        key = f"{p.container_port}/{p.protocol}"
        view[key] = (view.get(key) or []) + [
            {"HostIp": p.host_ip or "0.0.0.0", "HostPort": str(p.host_port)}
        ]
    return view


def port_list(c: pb.Container) -> list[dict[str, Any]]:
    """The Ports of docker ps: one entry per binding."""
    return [
        {
            "IP": p.host_ip or "0.0.0.0",
            "PrivatePort": p.container_port,
            "PublicPort": p.host_port,
            "Type": p.protocol,
        }
        for p in c.published_ports
    ]


def mounts(c: pb.Container) -> list[dict[str, Any]]:
    return [
        {
            "Type": m.type,
            "Name": m.source if m.type == "volume" else "",
            "Source": m.source,
            "Destination": m.target,
            "Driver": "local" if m.type == "volume" else "",
            "Mode": "ro" if m.read_only else "",
            "RW": not m.read_only,
            "Propagation": "rprivate" if m.type == "bind" else "",
        }
        for m in c.spec.mounts
    ]


def inspect(c: pb.Container) -> dict[str, Any]:
    args = list(c.path_and_args)
    base = c.state_dir
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": state(c),
        "Image": c.image_id,
        "ResolvConfPath": f"{base}/resolv.conf",
        "HostnamePath": f"{base}/hostname",
        "HostsPath": f"{base}/hosts",
        "LogPath": f"{base}/ctr.log",
        "Name": "/" + c.name,
        "RestartCount": c.state.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": host_config(c),
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "UpperDir": f"{base}/upper",
                "WorkDir": f"{base}/work",
                "MergedDir": f"{base}/merged",
            },
        },
        "Mounts": mounts(c),
        "Config": config(c),
        "NetworkSettings": network_settings(c),
    }


def summary(c: pb.Container) -> dict[str, Any]:
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.spec.image,
        "ImageID": c.image_id,
        "Command": " ".join(shlex.quote(a) for a in c.path_and_args),
        "Created": _unix(c.created),
        "Ports": port_list(c),
        "Labels": dict(c.effective_labels),
        "State": c.state.status,
        "Status": status_text(c.state),
        "HostConfig": {"NetworkMode": c.spec.network_mode or "bridge"},
        "NetworkSettings": {"Networks": network_settings(c)["Networks"]},
        "Mounts": mounts(c),
    }


def status_text(st: pb.ContainerState, now: datetime | None = None) -> str:
    """ "Up 5 seconds", "Exited (0) 3 minutes ago", "Created", as docker ps shows."""
    now = now or datetime.now(UTC)
    if st.status in ("running", "paused", "restarting"):
        text = f"Up {_ago(st.started_at, now)}"
        if st.status == "paused":
            text += " (Paused)"
        elif st.HasField("health"):
            shown = st.health.status
            text += f" ({'health: starting' if shown == 'starting' else shown})"
        if st.status == "restarting":
            text = f"Restarting ({st.exit_code}) {_ago(st.finished_at, now)} ago"
        return text
    if st.status == "exited":
        return f"Exited ({st.exit_code}) {_ago(st.finished_at, now)} ago"
    return st.status.capitalize()


def _ago(when: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return "less than a second"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 1:
        return "Less than a second"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * (2 if unit != "minute" else 1):
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}" if n > 1 or unit != "hour" else "An hour"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
