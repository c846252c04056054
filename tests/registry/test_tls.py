"""The registry over HTTPS: a generated CA (reused across restarts) or a configured
certificate; clients that trust the CA verify it, with auth on top."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import stat
from pathlib import Path

import aiohttp
import pytest

from estiba.registry.v1 import registry_pb2, registry_pb2_grpc
from services.engine.distribution.auth import Credentials
from services.engine.distribution.client import Registries, login
from services.kit import errors
from services.registry.config import RegistryConfig
from tests.registry.clients import skopeo
from tests.registry.conftest import StartRegistry, trusted_ca
from tests.registry.imagegen import write_image
from tests.registry.secured import PASSWORD, basic, secured_registry


async def test_generated_ca_serves_https_with_auth(
    start_registry: StartRegistry, tmp_path: Path
) -> None:
    async with secured_registry(start_registry, tls=True) as s:
        host = s.running.host
        reply = await s.client.request("GET", "/v2/")
        assert s.client.base.startswith("https://")
        assert reply.status == 401
        assert f'realm="https://{host}/token"' in reply.headers["WWW-Authenticate"]
        assert (await s.client.request("GET", "/v2/", headers=basic("alice"))).status == 200
        tls_dir = s.running.config.state_dir / "tls"
        ca = await asyncio.to_thread((tls_dir / "ca.crt").read_bytes)
        assert ca.startswith(b"-----BEGIN CERTIFICATE-----")
        info = await registry_pb2_grpc.SystemStub(s.running.channel).GetInfo(
            registry_pb2.GetInfoRequest(), timeout=10
        )
        assert (info.tls, info.auth, info.tls_trust_pem.encode()) == (True, True, ca)
        mode = (await asyncio.to_thread(os.stat, tls_dir / "server.key")).st_mode
        assert stat.S_IMODE(mode) == 0o600
        async with aiohttp.ClientSession() as plain:  # the system's CAs do not know ours
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await plain.get(f"https://{host}/v2/")
            with pytest.raises(aiohttp.ClientError):
                await plain.get(f"http://{host}/v2/")

        # skopeo verifies the certificate against the CA alone
        certs = tmp_path / "certs"
        await asyncio.to_thread(certs.mkdir)
        await asyncio.to_thread(shutil.copy, tls_dir / "ca.crt", certs / "ca.crt")
        image = await asyncio.to_thread(write_image, tmp_path / "img", sizes=[3000], seed=9)
        ref = f"docker://{host}/team-a/tls:v1"
        await skopeo("copy", f"--dest-cert-dir={certs}", f"--dest-creds=alice:{PASSWORD}",
                     f"oci:{image.layout}:{image.tag}", ref)  # fmt: skip
        _, raw = await skopeo("inspect", "--raw", f"--cert-dir={certs}",
                              f"--creds=bob:{PASSWORD}", ref)  # fmt: skip
        assert raw.encode() == image.manifest

        # the engine's registry client logs in over TLS (loopback is an insecure registry:
        # encrypted, not verified), and is refused with a wrong password
        registries = Registries(["127.0.0.0/8"])
        try:
            await login(registries, host, Credentials("alice", PASSWORD))
            with pytest.raises(errors.Unauthenticated):
                await login(registries, host, Credentials("alice", "wrong-password"))
            repo = await registries.open(host, "team-a/tls", Credentials("bob", PASSWORD))
            _, body, _ = await repo.get_manifest("v1")
            assert body == image.manifest
            strict = Registries([])
            try:
                with pytest.raises(errors.Unavailable):
                    await login(strict, host, Credentials("alice", PASSWORD))
            finally:
                await strict.close()
        finally:
            await registries.close()
        root = s.running.config.root.parent

    async with start_registry(root=root, tls=True) as again:  # the same CA after a restart
        assert await asyncio.to_thread(trusted_ca(again.config).read_bytes) == ca
        assert (await again.client.request("GET", "/v2/")).status == 200


async def test_configured_certificate(start_registry: StartRegistry, tmp_path: Path) -> None:
    cert, key = tmp_path / "my.crt", tmp_path / "my.key"
    proc = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=mine",
        "-addext", "subjectAltName=IP:127.0.0.1",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await proc.wait() == 0
    async with start_registry(tls=True, tls_cert=str(cert), tls_key=str(key)) as running:
        reply = await running.client.request("GET", "/v2/")
        assert reply.status == 200
        context = ssl.create_default_context(cafile=str(cert))
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"https://{running.host}/v2/", ssl=context) as resp,
        ):
            assert resp.status == 200
        assert not await asyncio.to_thread((running.config.state_dir / "tls").exists)


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        RegistryConfig(root=tmp_path, run_dir=tmp_path, tls=True, tls_cert="/x.crt").validate()
