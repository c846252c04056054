"""The text of netd's nftables table, rendered whole from the networks: pure, no I/O.

netd owns exactly one table, ``inet estiba_<prefix>``, and never touches any other (the host's
iptables-nft tables, Docker's, podman's). The table is always replaced as a whole, in one nft
transaction (declare, delete, define), so it is never half-applied, and a crash can never leave
rules that the database does not explain: every apply rewrites it from the records.

What it holds, per bridge network:

* ``postrouting``: masquerade what leaves the subnet through any other interface, so containers
  reach beyond the host with the host's address;
* ``forward`` (br_netfilter sends bridged frames through this hook as well):
  replies to established connections pass; traffic within one bridge passes; traffic between
  two of netd's bridges is dropped (networks are isolated); traffic out of a bridge passes;
  traffic into a bridge that no container asked for is dropped (the host does not route the
  outside world into container subnets).

An ``accept`` here is final only for this table: a ``drop`` in another table on the same hook
(an iptables FORWARD policy of DROP, which Docker sets when it turns forwarding on) still
drops. Such a host needs accepts for netd's bridges there too; netd does not edit others'
tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.netd.domain.models import Network


def render(table: str, networks: Sequence[Network]) -> str:
    """The nft script that atomically replaces ``inet <table>`` with the rules for networks."""
    bridges = ", ".join(_quote(n.bridge) for n in networks)
    elements = f"\t\telements = {{ {bridges} }}\n" if networks else ""
    nat = "".join(
        f"\t\tip saddr {n.subnet} oifname != {_quote(n.bridge)} masquerade\n" for n in networks
    )
    same_bridge = "".join(
        f"\t\tiifname {_quote(n.bridge)} oifname {_quote(n.bridge)} accept\n" for n in networks
    )
    return (
        f"table inet {table} {{}}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        "\tset bridges {\n"
        "\t\ttype ifname\n"
        f"{elements}"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f"{nat}"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tct state established,related accept\n"
        f"{same_bridge}"
        "\t\tiifname @bridges oifname @bridges drop\n"
        "\t\tiifname @bridges accept\n"
        "\t\toifname @bridges drop\n"
        "\t}\n"
        "}\n"
    )


def _quote(name: str) -> str:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"not an interface name netd makes: {name!r}")
    return f'"{name}"'
