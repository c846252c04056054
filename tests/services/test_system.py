"""Each service answers GetInfo and the health protocol over its UNIX socket, with real state."""

from __future__ import annotations

import os

import aiohttp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from estiba.engine.v1 import engine_pb2, engine_pb2_grpc
from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from estiba.registry.v1 import registry_pb2, registry_pb2_grpc
from services.kit.grpcclient import open_channel
from tests.services.conftest import Instance


async def test_each_service_reports_itself_and_its_state_dir(services: Instance) -> None:
    async with open_channel(services.target("engine")) as ch:
        engine = await engine_pb2_grpc.SystemStub(ch).GetInfo(engine_pb2.GetInfoRequest())
    assert engine.service.name == "engine"
    assert engine.service.pid == os.getpid()
    assert engine.service.node_name == "test-node"
    assert engine.service.state_dir == str(services.root / "engine")
    assert engine.host.ncpu == os.cpu_count()
    assert engine.host.kernel_version == os.uname().release
    assert engine.containers == 0
    assert engine.runtime == "runc"
    async with open_channel(services.target("netd")) as ch:
        netd = await netd_pb2_grpc.SystemStub(ch).GetInfo(netd_pb2.GetInfoRequest())
    assert (netd.service.name, netd.networks) == ("netd", 1)  # the default bridge network
    assert netd.kernel_prefix == services.env["ESTIBA_NETD_KERNEL_PREFIX"]
    async with open_channel(services.target("registry")) as ch:
        reg = await registry_pb2_grpc.SystemStub(ch).GetInfo(registry_pb2.GetInfoRequest())
    assert reg.http_address == services.registry_http
    for name in ("engine", "netd", "registry"):
        assert (services.root / name / f"{name}.db").is_file()


async def test_health_names_each_service(services: Instance) -> None:
    checks = {
        "engine": "estiba.engine.v1.System",
        "netd": "estiba.netd.v1.System",
        "registry": "estiba.registry.v1.System",
    }
    for name, service in checks.items():
        async with open_channel(services.target(name)) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            for asked in ("", service):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=asked))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_registry_http_base_endpoint(services: Instance) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{services.registry_http}/v2/") as response,
    ):
        assert response.status == 200
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_stop_removes_the_socket_and_state_survives_restart(instance: Instance) -> None:
    await instance.start("netd")
    sock = instance.run_dir / "netd.sock"
    assert sock.is_socket()
    await instance.stop("netd")
    assert not sock.exists()
    await instance.start("netd")
    assert (instance.root / "netd" / "netd.db").is_file()
