"""Docker's network JSON, built from netd's networks; and the predefined "host" and "none";
and a container's settings on one network, from the engine's record of it.

netd manages bridge networks only: "host" and "none" are ways a container is networked, not
networks it makes. Docker lists them as networks (drivers "host" and "null") and clients expect
them (``docker network ls``, ``docker network inspect host``), so the gateway shows them, with
ids derived from the node's name (stable across restarts, different per node) and the creation
time of the node's default network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from estiba.engine.v1 import containers_pb2
from estiba.netd.v1 import netd_pb2

PREDEFINED = {"host": "host", "none": "null"}  # name → Docker's driver name


@dataclasses.dataclass(frozen=True)
class Predefined:
    """One of the networks netd does not manage."""

    name: str
    id: str
    driver: str
    created: str


def predefined(node: str, created: str) -> list[Predefined]:
    return [
        Predefined(
            name, hashlib.sha256(f"estiba:{node}:{name}".encode()).hexdigest(), driver, created
        )
        for name, driver in PREDEFINED.items()
    ]


def find_predefined(items: Sequence[Predefined], ref: str) -> Predefined | None:
    """By name, id or id prefix, as netd looks networks up."""
    for item in items:
        if ref in (item.name, item.id):
            return item
    matches = [item for item in items if ref and item.id.startswith(ref)]
    return matches[0] if len(matches) == 1 else None


def predefined_matches(item: Predefined, filters: Mapping[str, Sequence[str]]) -> bool:
    """Docker's list filters, for a predefined network (netd has already checked them)."""

    def any_of(key: str, test: Any) -> bool:
        values = filters.get(key, ())
        return not values or any(test(v) for v in values)

    return (
        any_of("name", lambda v: _search(v, item.name))
        and any_of("id", lambda v: _search(v, item.id))
        and any_of("driver", lambda v: v == item.driver)
        and any_of("scope", lambda v: v == "local")
        and any_of("type", lambda v: v == "builtin")
        and any_of("dangling", lambda v: v.lower() not in ("true", "1"))
        and not filters.get("label")  # no labels
    )


def network(n: netd_pb2.Network, *, containers: bool) -> dict[str, Any]:
    """``GET /networks/{id}`` (with its containers) and ``GET /networks`` (without)."""
    config: dict[str, Any] = {"Subnet": n.subnet, "Gateway": n.gateway}
    if n.ip_range:
        config["IPRange"] = n.ip_range
    options = dict(n.options)
    if n.builtin:
        options.update(
            {
                "com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.name": n.bridge,
            }
        )
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": n.created_at,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [config]},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {e.container_id: endpoint(e) for e in n.endpoints} if containers else {},
        "Options": options,
        "Labels": dict(n.labels),
    }


def endpoint(e: netd_pb2.Endpoint) -> dict[str, Any]:
    return {
        "Name": e.container_name,
        "EndpointID": e.id,
        "MacAddress": e.mac_address,
        "IPv4Address": f"{e.ip_address}/{e.prefix_length}",
        "IPv6Address": "",
    }


def endpoint_settings(
    n: containers_pb2.ContainerNetwork, *, name: str, short_id: str, static_ip: str = ""
) -> dict[str, Any]:
    """A container's EndpointSettings on one network (``NetworkSettings.Networks[name]``).

    As API 1.44 reports them: on a user-defined network, Aliases are the aliases given plus the
    short id, and DNSNames every name the embedded DNS answers for the container there (the
    name, the aliases, the short id); the default network has neither.
    """
    named = n.name not in ("bridge", *PREDEFINED)
    aliases = [*n.aliases, short_id] if named else list(n.aliases)
    dns_names = list(dict.fromkeys([name, *n.aliases, short_id])) if named else None
    return {
        "IPAMConfig": {"IPv4Address": static_ip} if static_ip else None,
        "Links": None,
        "Aliases": aliases or None,
        "MacAddress": n.mac_address,
        "DriverOpts": None,
        "NetworkID": n.network_id,
        "EndpointID": n.endpoint_id,
        "Gateway": n.gateway,
        "IPAddress": n.ip_address,
        "IPPrefixLen": n.prefix_length,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": dns_names,
    }


def predefined_network(item: Predefined) -> dict[str, Any]:
    return {
        "Name": item.name,
        "Id": item.id,
        "Created": item.created,
        "Scope": "local",
        "Driver": item.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {},
        "Labels": {},
    }


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern in text
