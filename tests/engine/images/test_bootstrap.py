"""A Debian image bootstrapped from Debian's mirror (slow: minutes, and needs the mirror)."""

from __future__ import annotations

import asyncio
import time
import urllib.request

import pytest

from services.engine.images.bootstrap import DEFAULT_MIRROR
from tests.engine.images.conftest import Node, run, uid0

pytestmark = pytest.mark.skipif(not uid0(), reason="bootstrapping and unpacking need root")


def mirror_reachable() -> bool:
    try:
        url = f"{DEFAULT_MIRROR}/dists/bookworm/Release"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(1200)
async def test_bootstrap_debian_bookworm_with_bash(node: Node) -> None:
    if not await asyncio.to_thread(mirror_reachable):
        pytest.skip(f"Debian's mirror {DEFAULT_MIRROR} is unreachable from this machine")
    start = time.perf_counter()
    events = [e async for e in node.images.bootstrap("debian:bookworm", suite="bookworm")]
    elapsed = time.perf_counter() - start
    print(f"debian:bookworm bootstrapped in {elapsed:.0f} s")
    assert events[-1].status == "Status: Built debian:bookworm"
    details = await node.images.inspect("debian:bookworm")
    assert details.id == events[-1].image_id
    assert details.config["Cmd"] == ["bash"]
    [layer] = await node.images.rootfs_layers("debian:bookworm")
    assert (layer / "etc/debian_version").read_text().startswith("12")
    devices = [p for p in layer.rglob("*") if p.is_block_device() or p.is_char_device()]
    assert devices == []
    out = await run("chroot", str(layer), "/bin/bash", "-c", "echo $BASH_VERSION; id -u")
    assert out.split()[1] == "0"
    assert out.startswith("5.")
