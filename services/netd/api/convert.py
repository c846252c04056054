"""Domain values → netd's protobuf messages: pure functions."""

from __future__ import annotations

from collections.abc import Iterable

from estiba.netd.v1 import netd_pb2
from services.netd.domain.models import Endpoint, Network, Sandbox, SandboxFiles


def network(net: Network, endpoints: Iterable[Endpoint] = ()) -> netd_pb2.Network:
    return netd_pb2.Network(
        id=net.id,
        name=net.name,
        driver=net.driver,
        subnet=str(net.subnet),
        gateway=str(net.gateway),
        bridge=net.bridge,
        created_at=net.created_at,
        endpoints=[endpoint(e) for e in endpoints],
    )


def endpoint(e: Endpoint) -> netd_pb2.Endpoint:
    return netd_pb2.Endpoint(
        id=e.id,
        container_id=e.container_id,
        network_id=e.network_id,
        network_name=e.network_name,
        ip_address=str(e.address.ip),
        prefix_length=e.address.network.prefixlen,
        gateway=str(e.gateway),
        mac_address=e.mac,
        interface_name="eth0",
        host_interface=e.host_ifname,
        aliases=list(e.aliases),
    )


def sandbox(sb: Sandbox, files: SandboxFiles) -> netd_pb2.Sandbox:
    return netd_pb2.Sandbox(
        container_id=sb.container_id,
        mode=str(sb.mode),
        netns_path=sb.netns_path,
        hostname=sb.hostname,
        endpoints=[endpoint(e) for e in sb.endpoints],
        hosts=files.hosts,
        resolv_conf=files.resolv_conf,
        created_at=sb.created_at,
    )
