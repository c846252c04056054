"""Team quotas enforced at push (nothing half-stored), and retention rules applied by GC with a
dry run. Both work with auth off too: they are storage rules, not access rules."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from estiba.registry.v1 import access_pb2 as apb
from estiba.registry.v1 import access_pb2_grpc
from services.registry.domain.access_models import RetentionRule
from services.registry.domain.accounts import Actor
from tests.registry.clients import skopeo
from tests.registry.conftest import Running
from tests.registry.helpers import digest_of, exists, image_manifest, listdir
from tests.registry.imagegen import write_image
from tests.registry.test_gc import blob_file, run_gc

ADMIN = Actor("test")


async def test_quota_refuses_the_blob_that_would_exceed_it(registry: Running) -> None:
    client = registry.client
    access = registry.registry.services.access
    await access.create_team(ADMIN, "team-q")
    await access.set_quota(ADMIN, "team-q", 10_000)
    first, second = os.urandom(6000), os.urandom(6000)
    assert (await client.push_blob("team-q/app", first)).status == 201
    assert (await client.push_blob("team-q/other", first)).status == 201  # held already: free
    refused = await client.push_blob("team-q/app", second)
    assert refused.status == 403
    assert refused.error_code == "DENIED"
    message = refused.json()["errors"][0]["message"]
    assert "quota exceeded" in message
    assert "team-q" in message
    assert "10000" in message
    # nothing of the refused blob is left: no row, no file, no upload session
    assert (await client.blob("team-q/app", digest_of(second))).status == 404
    assert not await exists(blob_file(registry, digest_of(second)))
    assert await listdir(registry.config.state_dir / "uploads") == []
    # other teams and top-level names are not limited; mounts into the team count too
    assert (await client.push_blob("team-r/app", second)).status == 201
    mount = f"/v2/team-q/app/blobs/uploads/?mount={digest_of(second)}&from=team-r/app"
    assert (await client.request("POST", mount)).status == 403
    (team,) = [t for t in await access.teams() if t.name == "team-q"]
    assert team.used_bytes == 6000
    # a manifest counts with its bytes; raising the quota lets the push through
    manifest = image_manifest([first])
    assert (await client.push_blob("team-q/app", b"{}")).status == 201
    assert (await client.put_manifest("team-q/app", "v1", manifest)).status == 201
    await access.set_quota(ADMIN, "team-q", 0)
    assert (await client.push_blob("team-q/app", second)).status == 201


async def test_skopeo_push_over_quota_leaves_no_image(registry: Running, tmp_path: Path) -> None:
    access = registry.registry.services.access
    await access.create_team(ADMIN, "small")
    await access.set_quota(ADMIN, "small", 100_000)
    image = await asyncio.to_thread(write_image, tmp_path / "src", sizes=[40_000, 90_000], seed=5)
    status, out = await skopeo(
        "copy", "--dest-tls-verify=false", f"oci:{image.layout}:{image.tag}",
        f"docker://{registry.host}/small/app:v1", check=False,
    )  # fmt: skip
    assert status != 0
    assert "quota exceeded" in out
    assert (await registry.client.manifest("small/app", "v1")).status == 404
    tags = await registry.client.request("GET", "/v2/small/app/tags/list")
    assert tags.status == 404 or tags.json()["tags"] == []
    assert await listdir(registry.config.state_dir / "uploads") == []
    (team,) = [t for t in await access.teams() if t.name == "small"]
    assert team.used_bytes <= 100_000
    # what the refused push did link (the layers before the one refused) is garbage: it goes
    report = await run_gc(registry)
    assert {b.digest for b in report.blobs} <= set(image.blob_digests())
    (team,) = [t for t in await access.teams() if t.name == "small"]
    assert team.used_bytes == 0


async def test_retention_keeps_the_last_tags_and_gc_dry_run_reports_first(
    registry: Running,
) -> None:
    client = registry.client
    layer = os.urandom(3000)
    digests = {}
    for i in range(5):
        await client.push_blob("keep/app", layer)
        await client.push_blob("keep/app", b"{}")
        manifest = image_manifest([layer], annotations={"n": str(i)})
        assert (await client.put_manifest("keep/app", f"v{i}", manifest)).status == 201
        digests[f"v{i}"] = digest_of(manifest)
        await asyncio.sleep(0.01)
    await client.push_image("other/app", "old", [os.urandom(100)])
    stub = access_pb2_grpc.AccessStub(registry.channel)
    rule = apb.RetentionRule(pattern="keep/**", keep_last=2)
    await stub.SetRetention(apb.SetRetentionRequest(rule=rule), timeout=10)

    dry = await run_gc(registry, dry_run=True)
    assert [(t.repository, t.tag) for t in dry.tags_removed] == [
        ("keep/app", "v0"), ("keep/app", "v1"), ("keep/app", "v2"),
    ]  # fmt: skip
    assert sorted(m.digest for m in dry.manifests) == sorted(digests[t] for t in ("v0", "v1", "v2"))
    listed = await client.request("GET", "/v2/keep/app/tags/list")
    assert listed.json()["tags"] == ["v0", "v1", "v2", "v3", "v4"]  # a dry run changes nothing

    real = await run_gc(registry)
    assert [t.tag for t in real.tags_removed] == ["v0", "v1", "v2"]
    assert sorted(m.digest for m in real.manifests) == sorted(m.digest for m in dry.manifests)
    assert (await client.request("GET", "/v2/keep/app/tags/list")).json()["tags"] == ["v3", "v4"]
    assert (await client.manifest("keep/app", digests["v0"])).status == 404
    assert (await client.blob("keep/app", digest_of(layer))).status == 200  # still used by v3, v4
    assert (await client.manifest("other/app", "old")).status == 200  # no rule covers it

    # by age: a rule of about a second keeps only what was pushed since
    await asyncio.sleep(1.1)
    manifest = image_manifest([layer], annotations={"n": "new"})
    assert (await client.put_manifest("keep/app", "new", manifest)).status == 201
    await registry.registry.services.access.set_retention(
        ADMIN, RetentionRule("keep/app", keep_last=0, keep_days=1 / 86400)
    )
    report = await run_gc(registry)
    assert [t.tag for t in report.tags_removed] == ["v3", "v4"]
    assert (await client.request("GET", "/v2/keep/app/tags/list")).json()["tags"] == ["new"]
    entries = await registry.registry.services.access.audit(0, "", 100)
    assert {e.action for e in entries} >= {"retention.set", "push"}
