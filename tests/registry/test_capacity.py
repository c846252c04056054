"""A 256 MiB layer pushed and pulled with skopeo: byte for byte, streamed, in bounded memory.

The registry runs as its own process so its peak RSS (VmHWM) is its alone; it must stay under
100 MiB, which it cannot if a blob is ever held in memory whole.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.registry.clients import skopeo_pull, skopeo_push
from tests.registry.imagegen import file_digest, layout_manifest, write_image
from tests.registry.process import RegistryProcess

LAYER = 256 * 1024 * 1024
RSS_LIMIT_KIB = 100 * 1024


async def test_big_layer_streams_in_bounded_memory(tmp_path: Path) -> None:
    image = write_image(tmp_path / "src", sizes=[LAYER], seed=99)
    registry = RegistryProcess(tmp_path)
    await registry.start()
    try:
        started = time.monotonic()
        await skopeo_push(image.layout, image.tag, f"{registry.host}/big/app:v1")
        pushed = time.monotonic()
        await skopeo_pull(f"{registry.host}/big/app:v1", tmp_path / "pulled")
        pulled = time.monotonic()
        peak = registry.peak_rss_kib()
    finally:
        await registry.stop()
    assert layout_manifest(tmp_path / "pulled") == image.manifest
    layer = image.layer_digests[0]
    assert file_digest(tmp_path / "pulled" / "blobs" / "sha256" / layer[7:]) == layer
    mib = LAYER / 2**20
    print(
        f"push {mib / (pushed - started):.0f} MiB/s, pull {mib / (pulled - pushed):.0f} MiB/s, "
        f"peak RSS {peak / 1024:.0f} MiB"
    )
    assert peak < RSS_LIMIT_KIB, f"registry peak RSS {peak} KiB"
