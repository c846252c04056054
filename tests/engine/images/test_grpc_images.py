"""estiba.engine.v1.Images through the real engine (in this process) over its UNIX socket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import shutil
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

import grpc
import pytest

from estiba.engine.v1 import engine_pb2, engine_pb2_grpc, images_pb2_grpc
from estiba.engine.v1 import images_pb2 as pb
from services.engine.config import EngineConfig
from services.engine.main import main as engine_main
from services.kit import config as kconfig
from services.kit.grpcclient import check_health, open_channel
from services.kit.reqctx import REASON_TRAILER
from services.kit.tasks import spawn
from tests.engine.images.conftest import Registry, uid0
from tests.engine.images.layers import d, f, tar
from tests.engine.images.test_pull import publish

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")


@dataclasses.dataclass
class Engine:
    channel: grpc.aio.Channel
    images: images_pb2_grpc.ImagesAsyncStub
    system: engine_pb2_grpc.SystemAsyncStub


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    base = Path(tempfile.mkdtemp(prefix="est-eng-", dir="/tmp"))
    env = {"ESTIBA_ROOT": str(base / "root"), "ESTIBA_RUN_DIR": str(base / "run")}
    cfg = kconfig.load(EngineConfig, "engine", env=env)
    stop = asyncio.Event()
    task = spawn(engine_main(cfg, stop), name="test-engine")
    channel = open_channel(cfg.grpc_target)
    try:
        for _ in range(250):
            if task.done():
                task.result()
            if await check_health(channel, service="engine", timeout=1):
                break
            await asyncio.sleep(0.02)
        yield Engine(
            channel,
            images_pb2_grpc.ImagesStub(channel),
            engine_pb2_grpc.SystemStub(channel),
        )
    finally:
        await channel.close()
        stop.set()
        with contextlib.suppress(Exception):
            await task
        shutil.rmtree(base, ignore_errors=True)


def reason(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == REASON_TRAILER:
            return str(value)
    return ""


async def drain(call: AsyncIterable[object]) -> None:
    async for _ in call:
        pass


async def image_count(engine: Engine) -> int:
    return (await engine.system.GetInfo(engine_pb2.GetInfoRequest())).images


async def test_list_inspect_history_tag_remove(engine: Engine) -> None:
    listed = await engine.images.List(pb.ListImagesRequest())
    [busybox] = listed.images  # built at start
    assert list(busybox.repo_tags) == ["busybox:latest"]
    assert await image_count(engine) == 1

    inspect = (await engine.images.Inspect(pb.InspectImageRequest(image="busybox"))).image
    assert inspect.id == busybox.id
    assert json.loads(inspect.config_json)["Cmd"] == ["sh"]
    assert inspect.container_config_json == inspect.config_json
    assert (inspect.os, inspect.root_fs_type) == ("linux", "layers")
    history = await engine.images.History(pb.ImageHistoryRequest(image=busybox.id[7:19]))
    assert history.entries[0].created_by == 'CMD ["sh"]'

    await engine.images.Tag(pb.TagImageRequest(source="busybox", target="bb:mine"))
    found = await engine.images.List(
        pb.ListImagesRequest(filters=[pb.ImageFilter(name="reference", value="bb")])
    )
    assert list(found.images[0].repo_tags) == ["bb:mine", "busybox:latest"] or list(
        found.images[0].repo_tags
    ) == ["busybox:latest", "bb:mine"]
    removed = await engine.images.Remove(pb.RemoveImageRequest(image="bb:mine"))
    assert [i.untagged for i in removed.items] == ["bb:mine"]

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await engine.images.Inspect(pb.InspectImageRequest(image="nothing:here"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(info.value) == "IMAGE_UNKNOWN"
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await engine.images.Tag(pb.TagImageRequest(source="busybox", target="Bad Name"))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_save_then_load_through_streams(engine: Engine) -> None:
    chunks = [c.data async for c in engine.images.Save(pb.SaveImagesRequest(names=["busybox"]))]
    archive = b"".join(chunks)
    before = (await engine.images.Inspect(pb.InspectImageRequest(image="busybox"))).image.id
    await engine.images.Remove(pb.RemoveImageRequest(image="busybox"))
    assert await image_count(engine) == 0

    async def requests() -> AsyncIterator[pb.LoadImagesRequest]:
        yield pb.LoadImagesRequest(source=pb.LoadSource())
        for i in range(0, len(archive), 100_000):
            yield pb.LoadImagesRequest(data=archive[i : i + 100_000])

    loaded = [e async for e in engine.images.Load(requests())]
    assert [(e.status, e.image_id) for e in loaded] == [("Loaded image: busybox:latest", before)]
    assert await image_count(engine) == 1

    async def wrong() -> AsyncIterator[pb.LoadImagesRequest]:
        yield pb.LoadImagesRequest(data=b"no header first")

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await drain(engine.images.Load(wrong()))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(info.value) == "STREAM_INVALID"

    async def junk() -> AsyncIterator[pb.LoadImagesRequest]:
        yield pb.LoadImagesRequest(source=pb.LoadSource())
        yield pb.LoadImagesRequest(data=b"\0" * 1024)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await drain(engine.images.Load(junk()))
    assert reason(refused.value) == "ARCHIVE_INVALID"


async def test_import_through_a_stream_and_from_a_node_path(engine: Engine, tmp_path: Path) -> None:
    rootfs = gzip.compress(tar([d("bin"), f("bin/hello", b"hello", 0o755)]))

    async def requests() -> AsyncIterator[pb.ImportImageRequest]:
        options = pb.ImportOptions(reference="imp:1", changes=['CMD ["/bin/hello"]'], message="m")
        yield pb.ImportImageRequest(options=options)
        yield pb.ImportImageRequest(data=rootfs[:100])
        yield pb.ImportImageRequest(data=rootfs[100:])

    [made] = [e async for e in engine.images.Import(requests())]
    inspect = (await engine.images.Inspect(pb.InspectImageRequest(image="imp:1"))).image
    assert inspect.id == made.image_id == made.status
    assert json.loads(inspect.config_json)["Cmd"] == ["/bin/hello"]
    assert await image_count(engine) == 2

    path = tmp_path / "rootfs.tar.gz"
    path.write_bytes(rootfs)

    async def by_path() -> AsyncIterator[pb.ImportImageRequest]:
        yield pb.ImportImageRequest(options=pb.ImportOptions(reference="imp:2", path=str(path)))

    [again] = [e async for e in engine.images.Import(by_path())]
    history = await engine.images.History(pb.ImageHistoryRequest(image="imp:2"))
    assert again.image_id != made.image_id  # a different "created" time, so another config
    assert list(history.entries[0].tags) == ["imp:2"]


async def test_pull_and_push_stream_progress(
    engine: Engine, registry: Registry, tmp_path: Path
) -> None:
    built = await publish(tmp_path, registry, "grpc/pulled", [tar([f("a", b"a")])])
    ref = f"{registry.address}/grpc/pulled:v1"
    events = [e async for e in engine.images.Pull(pb.PullImageRequest(reference=ref))]
    assert events[0].status == "Pulling from grpc/pulled"
    assert events[-1].image_id == built.config_digest
    assert events[-1].digest == built.manifest_digest
    assert any(e.status == "Downloading" and e.total > 0 for e in events)

    target = f"{registry.address}/grpc/pushed:v9"
    await engine.images.Tag(pb.TagImageRequest(source="busybox", target=target))
    pushed = [e async for e in engine.images.Push(pb.PushImageRequest(reference=target))]
    assert pushed[-1].tag == "v9"
    assert pushed[-1].digest.startswith("sha256:")

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await drain(engine.images.Pull(pb.PullImageRequest(reference=f"{registry.address}/no/x:1")))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bootstrap_refuses_bad_arguments(engine: Engine) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await drain(engine.images.Bootstrap(pb.BootstrapImageRequest(suite="../etc")))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(info.value) == "SUITE_INVALID"
