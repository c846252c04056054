"""Containers: proto messages ↔ domain objects. Pure functions, field by field."""

from __future__ import annotations

from estiba.engine.v1 import containers_pb2 as pb
from services.engine.containers.health import config as health_config
from services.engine.containers.models import (
    Container,
    ContainerSpec,
    Health,
    Healthcheck,
    Mount,
    Port,
    Resources,
    RestartPolicy,
)

_SCALARS = (
    "image",
    "has_entrypoint",
    "working_dir",
    "user",
    "hostname",
    "domainname",
    "tty",
    "open_stdin",
    "stdin_once",
    "stop_signal",
    "stop_timeout",
    "network_mode",
    "auto_remove",
    "read_only",
    "init",
    "no_new_privileges",
    "attach_stdin",
    "attach_stdout",
    "attach_stderr",
    "docker_config_json",
    "publish_all_ports",
    "ip_address",
)
_LISTS = ("cmd", "entrypoint", "env", "exposed_ports", "network_aliases")


def spec_from_proto(msg: pb.ContainerSpec) -> ContainerSpec:
    values: dict[str, object] = {name: getattr(msg, name) for name in _SCALARS}
    values.update({name: tuple(getattr(msg, name)) for name in _LISTS})
    policy = msg.restart_policy
    res = msg.resources
    return ContainerSpec(
        **values,  # type: ignore[arg-type]
        labels=dict(msg.labels),
        restart_policy=RestartPolicy(policy.name or "no", policy.maximum_retry_count),
        mounts=tuple(
            Mount(m.type, m.source, m.target, m.read_only, tuple(m.options)) for m in msg.mounts
        ),
        resources=Resources(res.memory, res.nano_cpus, res.pids_limit, res.cpu_shares),
        ports=tuple(Port(p.protocol, p.container_port, p.host_ip, p.host_port) for p in msg.ports),
        healthcheck=healthcheck_from_proto(msg.healthcheck)
        if msg.HasField("healthcheck")
        else None,
    )


def healthcheck_from_proto(msg: pb.Healthcheck) -> Healthcheck:
    check = Healthcheck(
        tuple(msg.test),
        msg.interval,
        msg.timeout,
        msg.start_period,
        msg.start_interval,
        msg.retries,
    )
    health_config.validate(check)
    return check


def healthcheck_to_proto(check: Healthcheck) -> pb.Healthcheck:
    return pb.Healthcheck(
        test=list(check.test),
        interval=check.interval,
        timeout=check.timeout,
        start_period=check.start_period,
        start_interval=check.start_interval,
        retries=check.retries,
    )


def health_to_proto(health: Health) -> pb.Health:
    msg = pb.Health(status=health.status, failing_streak=health.failing_streak)
    for r in health.log:
        msg.log.add(start=r.start, end=r.end, exit_code=r.exit_code, output=r.output)
    return msg


def spec_to_proto(spec: ContainerSpec) -> pb.ContainerSpec:
    msg = pb.ContainerSpec(**{name: getattr(spec, name) for name in (*_SCALARS, *_LISTS)})
    msg.labels.update(spec.labels)
    msg.restart_policy.name = spec.restart_policy.name
    msg.restart_policy.maximum_retry_count = spec.restart_policy.maximum_retry_count
    for m in spec.mounts:
        msg.mounts.add(
            type=m.type,
            source=m.source,
            target=m.target,
            read_only=m.read_only,
            options=list(m.options),
        )
    for p in spec.ports:
        msg.ports.add(protocol=p.protocol, container_port=p.container_port, host_ip=p.host_ip,
                      host_port=p.host_port)  # fmt: skip
    if spec.healthcheck is not None:
        msg.healthcheck.CopyFrom(healthcheck_to_proto(spec.healthcheck))
    r = spec.resources
    msg.resources.CopyFrom(
        pb.Resources(
            memory=r.memory, nano_cpus=r.nano_cpus, pids_limit=r.pids_limit, cpu_shares=r.cpu_shares
        )
    )
    return msg


# The store shares one ContainerSpec among all reads of a container (it is frozen), so its
# message is built once and copied as bytes; the entry holds the spec, so its id stays its own.
_SPEC_MESSAGES: dict[int, tuple[ContainerSpec, bytes]] = {}
SPEC_MESSAGES_KEPT = 4096


def _spec_message(spec: ContainerSpec) -> bytes:
    kept = _SPEC_MESSAGES.get(id(spec))
    if kept is not None and kept[0] is spec:
        return kept[1]
    data = spec_to_proto(spec).SerializeToString()
    if len(_SPEC_MESSAGES) >= SPEC_MESSAGES_KEPT:
        _SPEC_MESSAGES.clear()
    _SPEC_MESSAGES[id(spec)] = (spec, data)
    return data


def container_to_proto(c: Container, state_dir: str) -> pb.Container:
    msg = pb.Container(
        id=c.id,
        name=c.name,
        image_id=c.image_id,
        state=pb.ContainerState(
            status=c.state,
            pid=c.pid,
            exit_code=c.exit_code,
            error=c.error,
            started_at=c.started_at,
            finished_at=c.finished_at,
            oom_killed=c.oom_killed,
            restart_count=c.restart_count,
        ),
        created=c.created,
        path_and_args=list(c.resolved.args),
        effective_env=list(c.resolved.env),
        effective_working_dir=c.resolved.working_dir,
        effective_user=c.resolved.user,
        state_dir=state_dir,
        netns_path=c.sandbox.netns if c.sandbox else "",
        effective_hostname=c.resolved.hostname,
    )
    msg.spec.MergeFromString(_spec_message(c.spec))
    msg.effective_labels.update(c.resolved.labels)
    if c.resolved.healthcheck is not None:
        msg.effective_healthcheck.CopyFrom(healthcheck_to_proto(c.resolved.healthcheck))
    if c.health is not None:
        msg.state.health.CopyFrom(health_to_proto(c.health))
    for p in c.sandbox.ports if c.sandbox else ():
        msg.published_ports.add(protocol=p.protocol, container_port=p.container_port,
                                host_ip=p.host_ip, host_port=p.host_port)  # fmt: skip
    s = c.sandbox
    if s is not None and s.mode in ("none", "host"):
        msg.networks.add(name=s.mode)  # a network mode, no endpoint
    for e in s.endpoints if s is not None else ():
        msg.networks.add(
            name=e.network,
            network_id=e.network_id,
            ip_address=e.ip_address,
            prefix_length=e.prefix_length,
            gateway=e.gateway,
            mac_address=e.mac_address,
            endpoint_id=e.id,
            aliases=list(e.aliases),
        )
    return msg
