"""A sandbox's teardown in a worker thread (``netlink.teardown``), on the real kernel."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

from services.netd.domain.names import link_group
from services.netd.netlink import netns, teardown
from tests.netd import kernel
from tests.netd.conftest import Site, real_kernel

pytestmark = real_kernel


def test_removes_netds_links_and_the_namespace_and_leaves_others_alone(site: Site) -> None:
    site.netns_dir.mkdir(parents=True)
    path = site.netns_dir / "c1"
    made = _bind_in_thread(path)
    assert made.exists()
    ours, foreign = f"{site.prefix}v1", f"{site.prefix}f1"
    group = link_group(site.prefix)
    # netd's host end with its peer inside the namespace; a link with the prefix, not the group
    _ip("link", "add", ours, "group", str(group), "type", "veth", "peer", "name", "eth0",
        "netns", str(path))  # fmt: skip
    _ip("link", "add", foreign, "type", "veth", "peer", "name", foreign + "p")
    left = teardown.remove(path, [ours, foreign, f"{site.prefix}gone"], group)
    assert left == [foreign]
    names = {link["ifname"] for link in kernel.links(site.prefix)}
    assert ours not in names
    assert {foreign, foreign + "p"} <= names
    assert not path.exists()
    assert kernel.nsfs_mounts_under(site.netns_dir) == []
    assert teardown.remove(path, [ours], group) == []  # again: nothing left to do


def _bind_in_thread(path: Path) -> Path:
    """A new namespace bound to ``path`` from a thread that ends (as netd's own do)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            netns.bind_new(path)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return path


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)
