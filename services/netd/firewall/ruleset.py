"""The text of netd's nftables table, rendered whole from the records: pure, no I/O.

netd owns exactly one table, ``inet estiba_<prefix>``, and never touches any other (the host's
iptables-nft tables, Docker's, podman's). The table is always replaced as a whole, in one nft
transaction (declare, delete, define), so it is never half-applied, and a crash can never leave
rules that the database does not explain: every apply rewrites it from the records.

What it holds:

* ``forward`` (br_netfilter sends bridged frames through this hook as well), in this order:
  replies to established connections pass; traffic within one bridge passes; traffic into or
  out of an internal network's bridge is dropped (no way out, none in); connections to
  published ports pass (they were DNAT'ed, and that is what publishing asks for); traffic
  between two of netd's bridges is dropped (networks are isolated from each other); traffic out
  of a bridge passes; traffic into a bridge that no container asked for is dropped (the host
  does not route the outside world into container subnets);
* ``postrouting``: masquerade what leaves a non-internal network's subnet through any other
  interface, so containers reach beyond the host with the host's address; masquerade what goes
  to a bridge from 127.0.0.0/8 (ports published on localhost) and what a container sends to a
  published port that leads back into its own subnet (hairpin), so the replies come back
  through the host and are un-NAT'ed;
* ``prerouting`` and ``output`` (nat): traffic to one of the host's own addresses jumps to
  ``publish``, one DNAT rule per published port; ``output`` covers the host itself, 127.0.0.1
  included (each bridge has route_localnet on for that);
* ``guard``: route_localnet would let a container send to the host's 127.0.0.0/8 through its
  bridge; such packets are dropped before anything else sees them.

An ``accept`` here is final only for this table: a ``drop`` in another table on the same hook
(an iptables FORWARD policy of DROP, which Docker sets when it turns forwarding on) still
drops. Such a host needs accepts for netd's bridges there too; netd does not edit others'
tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.netd.domain.models import Network, Publication


def render(table: str, networks: Sequence[Network], published: Sequence[Publication] = ()) -> str:
    """The nft script that atomically replaces ``inet <table>`` with the rules."""
    internal = [n for n in networks if n.internal]
    nat = "".join(
        f"\t\tip saddr {n.subnet} oifname != {_quote(n.bridge)} masquerade\n"
        for n in networks
        if not n.internal
    )
    hairpin = "".join(
        f"\t\tct status dnat ip saddr {s} ip daddr {s} masquerade\n"
        for s in sorted({p.subnet for p in published})
    )
    same_bridge = "".join(
        f"\t\tiifname {_quote(n.bridge)} oifname {_quote(n.bridge)} accept\n" for n in networks
    )
    return (
        f"table inet {table} {{}}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        f"{_set('bridges', networks)}"
        f"{_set('internal', internal)}"
        "\tchain guard {\n"
        "\t\ttype filter hook prerouting priority -300; policy accept;\n"
        "\t\tiifname @bridges ip daddr 127.0.0.0/8 drop\n"
        "\t}\n"
        "\tchain prerouting {\n"
        "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
        "\t\tfib daddr type local jump publish\n"
        "\t}\n"
        "\tchain output {\n"
        "\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tfib daddr type local jump publish\n"
        "\t}\n"
        "\tchain publish {\n"
        f"{''.join(_dnat(p) for p in published)}"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f"{nat}"
        "\t\toifname @bridges ip saddr 127.0.0.0/8 masquerade\n"
        f"{hairpin}"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tct state established,related accept\n"
        f"{same_bridge}"
        "\t\tiifname @internal drop\n"
        "\t\toifname @internal drop\n"
        "\t\tct status dnat accept\n"
        "\t\tiifname @bridges oifname @bridges drop\n"
        "\t\tiifname @bridges accept\n"
        "\t\toifname @bridges drop\n"
        "\t}\n"
        "}\n"
    )


def _set(name: str, networks: Iterable[Network]) -> str:
    bridges = ", ".join(_quote(n.bridge) for n in networks)
    elements = f"\t\telements = {{ {bridges} }}\n" if bridges else ""
    return f"\tset {name} {{\n\t\ttype ifname\n{elements}\t}}\n"


def _dnat(p: Publication) -> str:
    port = p.port
    if port.protocol not in ("tcp", "udp"):
        raise ValueError(f"not a protocol netd publishes: {port.protocol!r}")
    where = f"ip daddr {port.host_ip} " if port.host_ip else ""
    return (
        f"\t\t{where}{port.protocol} dport {int(port.host_port)}"
        f" dnat ip to {p.address}:{int(port.container_port)}\n"
    )


def _quote(name: str) -> str:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"not an interface name netd makes: {name!r}")
    return f'"{name}"'
