"""What a test run left in the kernel, seen and removed with the stock tools (ip, nft, umount).

Independent of netd's own code on purpose: the teardown must work even when the code under test
is what failed. Only objects named with the test's own prefix (and files in the test's own
namespace directory) are ever listed or deleted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Leftovers:
    links: tuple[str, ...]
    tables: tuple[str, ...]
    netns_files: tuple[str, ...]
    mounts: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.links or self.tables or self.netns_files or self.mounts)


def links(prefix: str) -> list[dict[str, Any]]:
    """Every link of the host namespace whose name starts with ``prefix`` (ip -j -d link)."""
    out = subprocess.run(
        ["ip", "-j", "-d", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return [link for link in json.loads(out) if str(link["ifname"]).startswith(prefix)]


def tables(prefix: str) -> list[str]:
    """nftables tables (``family name``) whose name contains ``prefix`` as netd names them."""
    out = subprocess.run(
        ["nft", "-j", "list", "tables"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for item in json.loads(out)["nftables"]:
        table = item.get("table")
        if table and table["name"] == f"estiba_{prefix}":
            found.append(f"{table['family']} {table['name']}")
    return found


def nsfs_mounts_under(directory: Path) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mount_point = fields[4].replace("\\040", " ")
            if fields[fields.index("-") + 1] == "nsfs" and mount_point.startswith(f"{directory}/"):
                found.append(mount_point)
    return found


def leftovers(prefix: str, netns_dir: Path) -> Leftovers:
    files = sorted(os.listdir(netns_dir)) if netns_dir.is_dir() else []
    return Leftovers(
        links=tuple(sorted(str(link["ifname"]) for link in links(prefix))),
        tables=tuple(tables(prefix)),
        netns_files=tuple(files),
        mounts=tuple(nsfs_mounts_under(netns_dir)),
    )


def remove_all(prefix: str, netns_dir: Path) -> None:
    """Delete every object of this prefix: veths, then bridges, the table, namespace files."""
    for mount_point in nsfs_mounts_under(netns_dir):
        subprocess.run(["umount", "-l", mount_point], capture_output=True, check=False)
    if netns_dir.is_dir():
        for name in os.listdir(netns_dir):
            (netns_dir / name).unlink(missing_ok=True)
    found = links(prefix)
    found.sort(key=lambda link: kind(link) == "bridge")
    for link in found:
        subprocess.run(
            ["ip", "link", "delete", str(link["ifname"])], capture_output=True, check=False
        )
    for table in tables(prefix):
        subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True, check=False)


def remove_netns_files(directory: Path) -> None:
    """Unmount and remove the namespace files a test made itself in ``directory``."""
    for mount_point in nsfs_mounts_under(directory):
        subprocess.run(["umount", "-l", mount_point], capture_output=True, check=False)
    if directory.is_dir():
        for name in os.listdir(directory):
            (directory / name).unlink(missing_ok=True)


def kind(link: dict[str, Any]) -> str:
    """ "bridge", "veth", ... from ``ip -d``'s linkinfo."""
    info = link.get("linkinfo")
    return str(info.get("info_kind", "")) if isinstance(info, dict) else ""


def ping(netns_file: Path, address: str) -> bool:
    """One ICMP echo from inside the namespace bound to ``netns_file`` to ``address``."""
    result = subprocess.run(
        ["nsenter", f"--net={netns_file}", "busybox", "ping", "-c1", "-W2", address],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return result.returncode == 0


def in_netns(netns_file: Path, *argv: str) -> str:
    """The output of a command run inside the namespace bound to ``netns_file``."""
    return subprocess.run(
        ["nsenter", f"--net={netns_file}", *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout


def host(*argv: str) -> str:
    """The output of a command run in the host namespace."""
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout
