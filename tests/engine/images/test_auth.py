"""Registry authentication against a test peer that speaks Docker's token protocol.

The peer is a small aiohttp server started by the test: ``/v2/...`` answers 401 with a Bearer
(or Basic) challenge until a valid token comes; ``/token`` checks Basic credentials, the
``service`` and the ``scope`` the engine asks for, and hands out tokens for exactly that scope.
It serves one image written with tarfile, so a full pull runs through the flow.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.engine.distribution.auth import Credentials, parse_challenges
from services.engine.images.models import Progress
from services.kit import errors
from tests.engine.images.conftest import Node, uid0
from tests.engine.images.layers import Layout, f, tar

pytestmark = pytest.mark.skipif(not uid0(), reason="unpacking layers needs root (chown, mknod)")

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
USER, PASSWORD = "alice", "s3cret"


def test_challenge_parsing() -> None:
    [bearer] = parse_challenges(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:team/app:pull,push"'
    )
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:team/app:pull,push",
    }
    two = parse_challenges('Basic realm="Registry Realm", Bearer realm="http://x/t", error=invalid')
    assert [(c.scheme, c.params) for c in two] == [
        ("basic", {"realm": "Registry Realm"}),
        ("bearer", {"realm": "http://x/t", "error": "invalid"}),
    ]
    assert parse_challenges('Bearer realm="a \\"quoted\\" b"')[0].params["realm"] == 'a "quoted" b'
    assert parse_challenges("") == []


@dataclasses.dataclass
class Peer:
    layout: Layout
    tags: dict[str, str]
    scheme: str = "bearer"
    public: tuple[str, ...] = ("public/app",)
    tokens: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    token_requests: list[dict[str, object]] = dataclasses.field(default_factory=list)
    base: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/token", self.token)
        app.router.add_get("/v2/", self.ping)
        app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", self.manifest)
        app.router.add_route("*", "/v2/{name:.+}/blobs/{digest}", self.blob)
        return app

    def _basic_ok(self, request: web.Request) -> bool | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        return base64.b64decode(header[6:]).decode() == f"{USER}:{PASSWORD}"

    def _challenge(self, scope: str = "") -> web.Response:
        if self.scheme == "basic":
            value = 'Basic realm="peer"'
        else:
            value = f'Bearer realm="{self.base}/token",service="peer.test"'
            value += f',scope="{scope}"' if scope else ""
        return web.json_response(
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            status=401,
            headers={"WWW-Authenticate": value},
        )

    def _allowed(self, request: web.Request, scope: str) -> bool:
        if self.scheme == "basic":
            return self._basic_ok(request) is True
        header = request.headers.get("Authorization", "")
        granted = self.tokens.get(header.removeprefix("Bearer "), set())
        return header.startswith("Bearer ") and (not scope or scope in granted)

    async def token(self, request: web.Request) -> web.Response:
        scopes = request.query.getall("scope", [])
        basic = self._basic_ok(request)
        self.token_requests.append(
            {"service": request.query.get("service"), "scopes": scopes, "basic": basic}
        )
        if basic is False or request.query.get("service") != "peer.test":
            return web.json_response({"details": "bad credentials"}, status=401)
        granted = set()
        for scope in scopes:
            _, name, actions = scope.split(":")
            if basic or name in self.public:
                granted |= {f"repository:{name}:{a}" for a in actions.split(",") if a == "pull"}
        token = secrets.token_hex(8)
        self.tokens[token] = granted
        return web.json_response({"token": token, "expires_in": 300})

    async def ping(self, request: web.Request) -> web.Response:
        if not self._allowed(request, ""):
            return self._challenge()
        return web.json_response({})

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        name, ref = request.match_info["name"], request.match_info["ref"]
        if not self._allowed(request, f"repository:{name}:pull"):
            return self._challenge(f"repository:{name}:pull")
        digest = self.tags.get(ref, ref)
        path = self.layout.root / "blobs/sha256" / digest.removeprefix("sha256:")
        data = path.read_bytes()
        media = json.loads(data)["mediaType"]
        headers = {"Docker-Content-Digest": digest}
        return web.Response(body=data, content_type=media, headers=headers)

    async def blob(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not self._allowed(request, f"repository:{name}:pull"):
            return self._challenge(f"repository:{name}:pull")
        path = self.layout.root / "blobs/sha256" / request.match_info["digest"][7:]
        return web.Response(body=path.read_bytes(), content_type="application/octet-stream")


@pytest.fixture
async def peer(tmp_path: Path, aiohttp_server: ServerFactory) -> Peer:
    layout = Layout(tmp_path / "layout")
    desc, _built = layout.image([tar([f("hello", b"from the peer")])])
    p = Peer(layout, {"v1": desc["digest"]})
    server = await aiohttp_server(p.app())
    p.base = f"http://127.0.0.1:{server.port}"
    return p


def address(peer: Peer) -> str:
    return peer.base.removeprefix("http://")


async def pull(node: Node, ref: str, creds: Credentials | None = None) -> list[Progress]:
    return [event async for event in node.images.pull(ref, creds)]


async def test_bearer_token_with_credentials(node: Node, peer: Peer) -> None:
    events = await pull(node, f"{address(peer)}/team/private:v1", Credentials(USER, PASSWORD))
    assert events[-1].image_id
    assert peer.token_requests
    first = peer.token_requests[0]
    assert first["service"] == "peer.test"
    assert first["scopes"] == ["repository:team/private:pull"]
    assert first["basic"] is True
    layer = (await node.images.rootfs_layers(f"{address(peer)}/team/private:v1"))[0]
    assert (layer / "hello").read_bytes() == b"from the peer"


async def test_anonymous_token_for_a_public_repository(node: Node, peer: Peer) -> None:
    events = await pull(node, f"{address(peer)}/public/app:v1")
    assert events[-1].status.startswith("Status: Downloaded newer image")
    assert all(r["basic"] is None for r in peer.token_requests)


async def test_anonymous_is_refused_where_credentials_are_needed(node: Node, peer: Peer) -> None:
    with pytest.raises(errors.Unauthenticated) as info:
        await pull(node, f"{address(peer)}/team/private:v1")
    assert info.value.reason == "REGISTRY_UNAUTHORIZED"


async def test_wrong_credentials_are_refused(node: Node, peer: Peer) -> None:
    with pytest.raises(errors.Unauthenticated) as info:
        await pull(node, f"{address(peer)}/team/private:v1", Credentials(USER, "wrong"))
    assert info.value.reason == "REGISTRY_UNAUTHORIZED"
    assert await node.images.list_images() == []


async def test_a_given_registry_token_is_used_as_is(node: Node, peer: Peer) -> None:
    peer.tokens["pre-issued"] = {"repository:team/private:pull"}
    events = await pull(
        node, f"{address(peer)}/team/private:v1", Credentials(registry_token="pre-issued")
    )
    assert events[-1].image_id
    assert peer.token_requests == []


async def test_basic_authentication(node: Node, peer: Peer) -> None:
    peer.scheme = "basic"
    with pytest.raises(errors.Unauthenticated):
        await pull(node, f"{address(peer)}/team/private:v1")
    events = await pull(node, f"{address(peer)}/team/private:v1", Credentials(USER, PASSWORD))
    assert events[-1].image_id
