"""skopeo and oras-py against a registry with auth on: they follow the 401 challenge to the
token endpoint, and succeed or fail exactly as the grants say."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.registry.clients import Oras, skopeo
from tests.registry.conftest import StartRegistry
from tests.registry.helpers import read_bytes, write_bytes
from tests.registry.imagegen import layout_manifest, write_image
from tests.registry.secured import ADMIN, PASSWORD, Secured, secured_registry

TLS = "--tls-verify=false"


@pytest.fixture
async def secured(start_registry: StartRegistry) -> AsyncIterator[Secured]:
    async with secured_registry(start_registry) as s:
        yield s


async def test_skopeo_with_credentials_tokens_and_refusals(
    secured: Secured, tmp_path: Path
) -> None:
    host = secured.running.host
    image = await asyncio.to_thread(write_image, tmp_path / "src", sizes=[5000, 70_000], seed=3)
    src = f"oci:{image.layout}:{image.tag}"
    alice = f"alice:{PASSWORD}"
    await skopeo("copy", "--dest-tls-verify=false", f"--dest-creds={alice}", src,
                 f"docker://{host}/team-a/app:v1")  # fmt: skip

    # bob may pull team-a but not push to it; carol may not even look
    await skopeo("copy", "--src-tls-verify=false", f"--src-creds=bob:{PASSWORD}",
                 f"docker://{host}/team-a/app:v1", f"oci:{tmp_path / 'pulled'}:latest")  # fmt: skip
    pulled = await asyncio.to_thread(layout_manifest, tmp_path / "pulled")
    assert pulled == image.manifest
    status, out = await skopeo("copy", "--dest-tls-verify=false", f"--dest-creds=bob:{PASSWORD}",
                               src, f"docker://{host}/team-a/app:bob", check=False)  # fmt: skip
    assert status != 0
    assert "denied" in out.lower()
    status, out = await skopeo("inspect", "--raw", TLS, f"--creds=carol:{PASSWORD}",
                               f"docker://{host}/team-a/app:v1", check=False)  # fmt: skip
    assert status != 0
    assert "denied" in out.lower()
    status, out = await skopeo("inspect", "--raw", TLS, "--no-creds",
                               f"docker://{host}/team-a/app:v1", check=False)  # fmt: skip
    assert status != 0
    assert "unauthorized" in out.lower() or "authentication required" in out.lower()
    status, out = await skopeo("inspect", "--raw", TLS, "--creds=alice:wrong-password",
                               f"docker://{host}/team-a/app:v1", check=False)  # fmt: skip
    assert status != 0

    # a copy inside the registry mounts the layers: it needs pull on the source too
    await skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                 f"--src-creds={alice}", f"--dest-creds={alice}",
                 f"docker://{host}/team-a/app:v1", f"docker://{host}/team-a/copy:v1")  # fmt: skip
    copied = await secured.client.manifest_with(
        "team-a/copy", "v1", {"Authorization": _basic("alice")}
    )
    assert copied.body == image.manifest

    _, tags = await skopeo("list-tags", TLS, f"--creds={alice}", f"docker://{host}/team-a/app")
    assert json.loads(tags)["Tags"] == ["v1"]
    status, out = await skopeo("delete", TLS, f"--creds=bob:{PASSWORD}",
                               f"docker://{host}/team-a/copy:v1", check=False)  # fmt: skip
    assert status != 0
    await skopeo("delete", TLS, f"--creds={alice}", f"docker://{host}/team-a/copy:v1")

    # the robot pushes with its secret; anonymous pulls work only where allowed
    robot = f"team-a+ci:{secured.robot_secret}"
    await skopeo("copy", "--dest-tls-verify=false", f"--dest-creds={robot}", src,
                 f"docker://{host}/team-a/app:ci")  # fmt: skip
    await skopeo("copy", "--dest-tls-verify=false", f"--dest-creds=root:{PASSWORD}", src,
                 f"docker://{host}/public/base:v1")  # fmt: skip
    _, raw = await skopeo("inspect", "--raw", TLS, "--no-creds", f"docker://{host}/public/base:v1")
    assert raw.encode() == image.manifest
    await secured.access.revoke_robot(ADMIN, "team-a+ci")
    status, out = await skopeo("inspect", "--raw", TLS, f"--creds={robot}",
                               f"docker://{host}/team-a/app:ci", check=False)  # fmt: skip
    assert status != 0


def _basic(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()


async def test_oras_push_and_pull_with_credentials(secured: Secured, tmp_path: Path) -> None:
    payload = tmp_path / "notes.txt"
    await write_bytes(payload, b"release notes\n" * 1000)
    alice = Oras(secured.running.host)
    alice._client.auth.set_basic_auth("alice", PASSWORD)
    await alice.call("push", target=alice.target("team-a/notes:v1"), files=[str(payload)],
                     disable_path_validation=True, quiet=True)  # fmt: skip
    bob = Oras(secured.running.host)
    bob._client.auth.set_basic_auth("bob", PASSWORD)
    paths = await bob.call("pull", target=bob.target("team-a/notes:v1"), outdir=str(tmp_path / "o"))
    assert await read_bytes(Path(paths[0])) == await read_bytes(payload)
    with pytest.raises(Exception, match=r"403|denied|Forbidden"):
        await bob.call("push", target=bob.target("team-a/notes:v2"), files=[str(payload)],
                       disable_path_validation=True, quiet=True)  # fmt: skip
    assert await alice.call("get_tags", alice.target("team-a/notes")) == ["v1"]
    anonymous = Oras(secured.running.host)
    with pytest.raises(Exception, match=r"401|403|nauthorized|denied"):
        await anonymous.call("get_tags", anonymous.target("team-a/notes"))
