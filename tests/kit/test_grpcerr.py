"""The error interceptor and from_rpc_error across a real gRPC socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from estiba.netd.v1 import netd_pb2, netd_pb2_grpc
from services.kit import errors, grpcserver, reqctx
from services.kit.grpcclient import call, check_health, open_channel


class Raising(netd_pb2_grpc.SystemServicer):
    """A servicer whose answer is chosen by the test."""

    def __init__(self) -> None:
        self.raise_: BaseException | None = None
        self.seen_request_id = ""

    async def GetInfo(
        self, request: netd_pb2.GetInfoRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> netd_pb2.GetInfoResponse:
        self.seen_request_id = reqctx.current_request_id()
        if self.raise_ is not None:
            raise self.raise_
        return netd_pb2.GetInfoResponse(networks=3)

    def register(self, server: grpc.aio.Server) -> None:
        netd_pb2_grpc.add_SystemServicer_to_server(self, server)


async def test_errors_cross_the_socket_as_the_same_class(tmp_path: Path) -> None:
    servicer = Raising()
    target = f"unix://{tmp_path / 'x.sock'}"
    async with grpcserver.serving(target, [servicer.register], services=[]):
        channel = open_channel(target)
        stub = netd_pb2_grpc.SystemStub(channel)
        try:
            reqctx.bind_request_id("rid-42")
            reply = await call(stub.GetInfo, netd_pb2.GetInfoRequest(), service="netd", timeout=2)
            assert reply.networks == 3
            assert servicer.seen_request_id == "rid-42"
            assert await check_health(channel, service="netd", timeout=2)

            servicer.raise_ = errors.NotFound("no such network: n1", reason="NETWORK_UNKNOWN")
            with pytest.raises(errors.NotFound) as info:
                await call(stub.GetInfo, netd_pb2.GetInfoRequest(), service="netd", timeout=2)
            assert info.value.message == "no such network: n1"
            assert info.value.reason == "NETWORK_UNKNOWN"

            servicer.raise_ = errors.Unavailable("registry.example cannot be reached")
            with pytest.raises(errors.Unavailable, match=r"registry\.example cannot be reached"):
                await call(stub.GetInfo, netd_pb2.GetInfoRequest(), service="netd", timeout=2)

            servicer.raise_ = KeyError("bug")
            with pytest.raises(errors.Internal, match="internal error"):
                await call(stub.GetInfo, netd_pb2.GetInfoRequest(), service="netd", timeout=2)
        finally:
            await channel.close()


async def test_a_dead_peer_is_unavailable_fast(tmp_path: Path) -> None:
    channel = open_channel(f"unix://{tmp_path / 'nobody.sock'}")
    stub = netd_pb2_grpc.SystemStub(channel)
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(errors.Unavailable, match="netd"):
            await call(stub.GetInfo, netd_pb2.GetInfoRequest(), service="netd", timeout=5)
        assert not await check_health(channel, service="netd", timeout=5)
        assert loop.time() - began < 1.0
    finally:
        await channel.close()


async def test_a_live_socket_is_not_taken_over(tmp_path: Path) -> None:
    target = f"unix://{tmp_path / 'x.sock'}"
    async with grpcserver.serving(target, [], services=[]):
        with pytest.raises(OSError, match="already listens"):
            grpcserver.prepare_unix_socket(tmp_path / "x.sock")


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()  # bound but never listening: what a killed process leaves
    grpcserver.prepare_unix_socket(path)
    assert not path.exists()
