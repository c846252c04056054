"""Domain values ↔ netd's protobuf messages: pure functions."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Interface

from estiba.netd.v1 import netd_pb2
from services.netd.domain import publish
from services.netd.domain.models import (
    Endpoint,
    Network,
    NetworkSpec,
    PortBinding,
    RemoteEndpoint,
    Sandbox,
    SandboxFiles,
)


def network(
    net: Network, endpoints: Iterable[Endpoint] = (), *, count: int | None = None
) -> netd_pb2.Network:
    listed = list(endpoints)
    return netd_pb2.Network(
        id=net.id,
        name=net.name,
        driver=net.driver,
        subnet=str(net.subnet),
        gateway=str(net.gateway),
        bridge=net.bridge,
        created_at=net.created_at,
        endpoints=[endpoint(e) for e in listed],
        internal=net.internal,
        attachable=net.attachable,
        ip_range=str(net.ip_range) if net.ip_range else "",
        labels=dict(net.labels),
        options=dict(net.options),
        builtin=net.builtin,
        endpoint_count=len(listed) if count is None else count,
    )


@functools.lru_cache(maxsize=8192)
def _address_text(address: IPv4Interface | IPv4Address) -> str:
    """The address's text (without the prefix); ipaddress computes it anew on every call."""
    return str(address.ip if isinstance(address, IPv4Interface) else address)


def endpoint(e: Endpoint, *, default_route: bool = False) -> netd_pb2.Endpoint:
    return netd_pb2.Endpoint(
        id=e.id,
        container_id=e.container_id,
        network_id=e.network_id,
        network_name=e.network_name,
        ip_address=_address_text(e.address),
        prefix_length=e.address.network.prefixlen,
        gateway=_address_text(e.gateway),
        mac_address=e.mac,
        interface_name=e.ifname,
        host_interface=e.host_ifname,
        aliases=list(e.aliases),
        container_name=e.container_name,
        default_route=default_route,
    )


def sandbox(sb: Sandbox, files: SandboxFiles) -> netd_pb2.Sandbox:
    default = sb.default_endpoint
    return netd_pb2.Sandbox(
        container_id=sb.container_id,
        mode=str(sb.mode),
        netns_path=sb.netns_path,
        hostname=sb.hostname,
        endpoints=[endpoint(e, default_route=e == default) for e in sb.endpoints],
        hosts=files.hosts,
        resolv_conf=files.resolv_conf,
        created_at=sb.created_at,
        name=sb.name,
        ports=[port(p) for p in sb.ports],
    )


def port(p: PortBinding) -> netd_pb2.PortBinding:
    return netd_pb2.PortBinding(
        protocol=p.protocol,
        container_port=p.container_port,
        host_ip=str(p.host_ip) if p.host_ip else "",
        host_port=p.host_port,
    )


def port_from(p: netd_pb2.PortBinding) -> PortBinding:
    return PortBinding(
        protocol=p.protocol,
        container_port=p.container_port,
        host_ip=publish.parse_host_ip(p.host_ip),
        host_port=p.host_port,
    )


def network_spec(r: netd_pb2.CreateNetworkRequest) -> NetworkSpec:
    return NetworkSpec(
        name=r.name,
        driver=r.driver,
        subnet=r.subnet,
        gateway=r.gateway,
        ip_range=r.ip_range,
        internal=r.internal,
        attachable=r.attachable,
        labels=tuple(sorted(r.labels.items())),
        options=tuple(sorted(r.options.items())),
    )


def filters(given: Mapping[str, netd_pb2.FilterValues]) -> dict[str, list[str]]:
    return {key: list(values.values) for key, values in given.items()}


def overlay_endpoints(endpoints: Iterable[RemoteEndpoint]) -> list[netd_pb2.OverlayEndpoint]:
    return [
        netd_pb2.OverlayEndpoint(
            network=e.network,
            container_id=e.container_id,
            container_name=e.name,
            aliases=list(e.aliases),
            ip_address=str(e.address),
        )
        for e in endpoints
    ]


def remote_endpoints(endpoints: Iterable[netd_pb2.OverlayEndpoint]) -> list[RemoteEndpoint]:
    """What a peer sent; an entry with a malformed address is left out, not trusted."""
    found = []
    for e in endpoints:
        try:
            address = IPv4Address(e.ip_address)
        except ValueError:
            continue
        found.append(
            RemoteEndpoint(
                network=e.network,
                container_id=e.container_id,
                name=e.container_name,
                aliases=tuple(e.aliases),
                address=address,
            )
        )
    return found
