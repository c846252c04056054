"""``POST /containers/create``: Docker's Config + HostConfig body → an engine ContainerSpec."""

from __future__ import annotations

import json
from typing import Any

from estiba.engine.v1 import containers_pb2 as pb
from services.kit import errors


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise errors.InvalidArgument(f"{field} must be a list of strings")


def spec_from_body(body: dict[str, Any]) -> pb.ContainerSpec:
    image = body.get("Image")
    if not isinstance(image, str) or not image:
        raise errors.InvalidArgument("Config.Image is required", reason="IMAGE_REQUIRED")
    host = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        raise errors.InvalidArgument("HostConfig must be an object")
    entrypoint = body.get("Entrypoint")
    spec = pb.ContainerSpec(
        image=image,
        cmd=_strings(body.get("Cmd"), "Cmd"),
        entrypoint=_strings(entrypoint, "Entrypoint"),
        has_entrypoint=entrypoint is not None,
        env=_strings(body.get("Env"), "Env"),
        working_dir=str(body.get("WorkingDir") or ""),
        user=str(body.get("User") or ""),
        hostname=str(body.get("Hostname") or ""),
        domainname=str(body.get("Domainname") or ""),
        tty=bool(body.get("Tty")),
        open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")),
        stop_signal=str(body.get("StopSignal") or ""),
        stop_timeout=int(body["StopTimeout"]) if body.get("StopTimeout") is not None else -1,
        network_mode=_network_mode(host, body.get("NetworkingConfig")),
        auto_remove=bool(host.get("AutoRemove")),
        read_only=bool(host.get("ReadonlyRootfs")),
        init=bool(host.get("Init")),
        exposed_ports=sorted((body.get("ExposedPorts") or {}).keys()),
        no_new_privileges=any(
            opt in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
            for opt in host.get("SecurityOpt") or []
        ),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        docker_config_json=json.dumps(body),
    )
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise errors.InvalidArgument("Labels must be an object")
    spec.labels.update({str(k): str(v) for k, v in labels.items()})
    policy = host.get("RestartPolicy") or {}
    spec.restart_policy.name = str(policy.get("Name") or "no")
    if spec.restart_policy.name not in ("no", "always", "unless-stopped", "on-failure"):
        raise errors.InvalidArgument(f"invalid restart policy '{spec.restart_policy.name}'")
    spec.restart_policy.maximum_retry_count = int(policy.get("MaximumRetryCount") or 0)
    spec.resources.CopyFrom(
        pb.Resources(
            memory=int(host.get("Memory") or 0),
            nano_cpus=int(host.get("NanoCpus") or 0),
            pids_limit=int(host.get("PidsLimit") or 0),
            cpu_shares=int(host.get("CpuShares") or 0),
        )
    )
    spec.mounts.extend(_mounts(host))
    spec.ports.extend(_ports(host.get("PortBindings") or {}))
    spec.publish_all_ports = bool(host.get("PublishAllPorts"))
    endpoint = _endpoint(body.get("NetworkingConfig"), spec.network_mode)
    spec.ip_address = str((endpoint.get("IPAMConfig") or {}).get("IPv4Address") or "")
    spec.network_aliases.extend(str(a) for a in endpoint.get("Aliases") or [])
    if body.get("Healthcheck"):
        spec.healthcheck.CopyFrom(_healthcheck(body["Healthcheck"]))
    return spec


def _healthcheck(data: Any) -> pb.Healthcheck:
    """Config.Healthcheck; the engine checks the values, this only checks the types."""
    if not isinstance(data, dict):
        raise errors.InvalidArgument("Healthcheck must be an object")
    try:
        return pb.Healthcheck(
            test=_strings(data.get("Test"), "Healthcheck.Test"),
            interval=int(data.get("Interval") or 0),
            timeout=int(data.get("Timeout") or 0),
            start_period=int(data.get("StartPeriod") or 0),
            start_interval=int(data.get("StartInterval") or 0),
            retries=int(data.get("Retries") or 0),
        )
    except (TypeError, ValueError) as exc:
        raise errors.InvalidArgument(f"invalid Healthcheck: {exc}") from exc


def _ports(bindings: dict[str, Any]) -> list[pb.PortSpec]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`` → port specs (HostPort "" = free)."""
    out = []
    for key, hosts in bindings.items():
        number, _, protocol = str(key).partition("/")
        if not number.isdigit() or protocol not in ("", "tcp", "udp"):
            raise errors.InvalidArgument(f"invalid port specification: {key!r}")
        for host in hosts or [{}]:
            host_port = str((host or {}).get("HostPort") or "0")
            if not host_port.isdigit():
                raise errors.InvalidArgument(f"invalid host port: {host_port!r}")
            out.append(
                pb.PortSpec(
                    protocol=protocol or "tcp",
                    container_port=int(number),
                    host_ip=str((host or {}).get("HostIp") or ""),
                    host_port=int(host_port),
                )
            )
    return out


def _endpoint(networking: Any, mode: str) -> dict[str, Any]:
    """The EndpointsConfig entry of the container's network, if the client sent one."""
    configs = (networking or {}).get("EndpointsConfig") or {}
    entry = (
        configs.get(mode)
        or configs.get("default")
        or (next(iter(configs.values())) if len(configs) == 1 else {})
    )
    return entry if isinstance(entry, dict) else {}


def _network_mode(host: dict[str, Any], networking: Any) -> str:
    mode = str(host.get("NetworkMode") or "")
    if mode in ("", "default"):
        return "bridge"
    return mode


def _mounts(host: dict[str, Any]) -> list[pb.Mount]:
    mounts: list[pb.Mount] = []
    for bind in host.get("Binds") or []:
        parts = str(bind).split(":")
        if len(parts) < 2 or not parts[1].startswith("/"):
            raise errors.InvalidArgument(f"invalid volume specification: '{bind}'")
        mode = parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if parts[0].startswith("/") else "volume"
        mounts.append(pb.Mount(type=kind, source=parts[0], target=parts[1], read_only="ro" in mode))
    for target, options in (host.get("Tmpfs") or {}).items():
        opts = [o for o in str(options).split(",") if o]
        mounts.append(pb.Mount(type="tmpfs", target=target, options=opts))
    for m in host.get("Mounts") or []:
        kind = str(m.get("Type") or "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            raise errors.InvalidArgument(f"mount type {kind!r} is not supported")
        tmpfs = m.get("TmpfsOptions") or {}
        opts = []
        if tmpfs.get("SizeBytes"):
            opts.append(f"size={int(tmpfs['SizeBytes'])}")
        if tmpfs.get("Mode"):
            opts.append(f"mode={int(tmpfs['Mode']):o}")
        mounts.append(
            pb.Mount(
                type=kind,
                source=str(m.get("Source") or ""),
                target=str(m.get("Target") or ""),
                read_only=bool(m.get("ReadOnly")),
                options=opts,
            )
        )
    for mount in mounts:
        if mount.type == "bind" and not mount.source.startswith("/"):
            raise errors.InvalidArgument(f"invalid mount source: {mount.source!r}")
        if not mount.target.startswith("/"):
            raise errors.InvalidArgument(f"invalid mount target: {mount.target!r}")
    return mounts
