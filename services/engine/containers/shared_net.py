"""``--network container:<id|name>``: a container that lives in another container's network.

Such a container has no sandbox of its own in netd: it runs in the other container's network
namespace, and sees what that one sees (addresses, ports, localhost), under the other's host
name, with a copy of the other's /etc/hosts and /etc/resolv.conf taken each time it starts.
What would configure a network of its own is refused at create with dockerd's messages (400);
starting it while the other is not running is dockerd's conflict (409).
"""

from __future__ import annotations

from services.engine.containers.models import (
    PAUSED,
    RUNNING,
    Container,
    ContainerSpec,
    Sandbox,
)
from services.kit import errors

PREFIX = "container:"


def peer_ref(network_mode: str) -> str:
    """The other container's id or name in a ``container:`` mode; "" for any other mode."""
    if not network_mode.startswith(PREFIX):
        return ""
    ref = network_mode.removeprefix(PREFIX)
    if not ref:
        raise errors.InvalidArgument(
            "invalid network mode: container: needs a container's name or id",
            reason="NETWORK_MODE_INVALID",
        )
    return ref


def check_spec(spec: ContainerSpec) -> None:
    """What a container sharing another's network cannot ask for, in dockerd's order."""
    refusals = (
        (spec.hostname, "conflicting options: hostname and the network mode"),
        (
            spec.ports or spec.publish_all_ports,
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            spec.exposed_ports,
            "conflicting options: port exposing and the container type network mode",
        ),
        (
            spec.ip_address,
            "user specified IP address is supported on user defined networks only",
        ),
        (
            spec.network_aliases,
            "network-scoped alias is supported only for containers in user defined networks",
        ),
    )
    for asked, message in refusals:
        if asked:
            raise errors.InvalidArgument(message, reason="NETWORK_MODE_CONFLICT")


def require_running(peer: Container, joiner_id: str) -> None:
    """The other container must run: its namespace is only worth joining while it does."""
    if peer.id == joiner_id:
        raise errors.InvalidArgument("cannot join own network", reason="NETWORK_MODE_INVALID")
    if peer.state not in (RUNNING, PAUSED):
        raise errors.FailedPrecondition(
            "cannot join network namespace of a non running container: container"
            f" {peer.name} is {peer.state}",
            reason="NETWORK_PEER_NOT_RUNNING",
        )


def shared_sandbox(peer: Container) -> Sandbox:
    """The joiner's view of the network: the other's namespace and files, no endpoint."""
    own = peer.sandbox
    if own is None:
        raise errors.FailedPrecondition(
            f"container {peer.name} has no network namespace to join",
            reason="NETWORK_PEER_NOT_RUNNING",
        )
    mode = "host" if own.mode == "host" else f"{PREFIX}{peer.id}"
    return Sandbox(mode=mode, netns=own.netns, hosts=own.hosts, resolv_conf=own.resolv_conf)
