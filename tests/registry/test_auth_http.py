"""The registry with auth on, over real HTTP: challenges, the token endpoint, and who may call
which /v2/ endpoint with Basic credentials, tokens, robots, or nothing at all."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest

from tests.registry.conftest import StartRegistry
from tests.registry.helpers import Reply, digest_of, image_manifest
from tests.registry.secured import (
    ADMIN,
    LAYER,
    PASSWORD,
    Secured,
    basic,
    bearer,
    secured_registry,
)


@pytest.fixture
async def secured(start_registry: StartRegistry) -> AsyncIterator[Secured]:
    async with secured_registry(start_registry) as s:
        yield s


def challenge_of(reply: Reply) -> str:
    assert reply.status == 401, reply
    assert reply.error_code == "UNAUTHORIZED"
    return reply.headers["WWW-Authenticate"]


async def test_anonymous_requests_get_the_docker_challenge(secured: Secured) -> None:
    c = secured.client
    port = secured.running.port
    realm = f'realm="http://127.0.0.1:{port}/token",service="estiba-registry"'
    assert challenge_of(await c.request("GET", "/v2/")) == f"Bearer {realm}"
    assert challenge_of(await c.manifest("team-a/app", "v1")) == (
        f'Bearer {realm},scope="repository:team-a/app:pull"'
    )
    upload = await c.request("POST", "/v2/team-a/app/blobs/uploads/")
    assert challenge_of(upload).endswith('scope="repository:team-a/app:pull,push"')
    delete = await c.request("DELETE", f"/v2/team-a/app/manifests/{digest_of(b'x')}")
    assert challenge_of(delete).endswith('scope="repository:team-a/app:delete"')
    catalog = await c.request("GET", "/v2/_catalog")
    assert challenge_of(catalog).endswith('scope="registry:catalog:*"')
    assert (await c.request("GET", "/v2/", headers=basic("alice"))).status == 200


async def test_token_endpoint_grants_exactly_what_is_held(secured: Secured) -> None:
    reply = await secured.token(
        "repository:team-a/app:pull,push,delete", "repository:team-b/x:push",
        "repository:team-a/app:overwrite", user="alice", offline_token="true",
    )  # fmt: skip
    assert reply.status == 200, reply
    body = reply.json()
    assert body["expires_in"] == 300
    assert body["access_token"] == body["token"]
    assert body["refresh_token"]
    payload = body["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["access"] == [
        {"type": "repository", "name": "team-a/app", "actions": ["delete", "pull", "push"]}
    ]
    assert claims["sub"] == "alice"
    assert claims["aud"] == "estiba-registry"
    assert claims["exp"] - claims["iat"] == 300

    anonymous = (await secured.token("repository:public/x:pull,push")).json()
    payload = anonymous["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["access"] == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]
    assert "refresh_token" not in anonymous

    # The OAuth2 form: a password, then the refresh token it came with.
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD,
            "service": "estiba-registry", "client_id": "test", "access_type": "offline",
            "scope": "repository:team-a/app:pull repository:team-a/app:push"}  # fmt: skip
    first = await secured.client.request("POST", "/token", data=form)
    assert first.status == 200, first
    refresh = {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"],
               "service": "estiba-registry", "client_id": "test",
               "scope": "repository:team-a/app:pull"}  # fmt: skip
    second = await secured.client.request("POST", "/token", data=refresh)
    assert second.status == 200, second
    pull = await secured.client.request(
        "GET", "/v2/team-a/app/tags/list", headers=bearer(second.json()["token"])
    )
    assert pull.status == 404  # allowed, and the repository does not exist yet


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"scope": "repository:team-a/app"}, "SCOPE_INVALID"),
        ({"scope": "repository:Team/App:pull"}, "SCOPE_INVALID"),
        ({"scope": "repository:team-a/app:fly"}, "SCOPE_INVALID"),
        ({"scope": "registry:catalog:pull"}, "SCOPE_INVALID"),
        ({"scope": "bucket:x:pull"}, "SCOPE_INVALID"),
        ({"service": "someone-else"}, "SERVICE_UNKNOWN"),
    ],
)
async def test_token_endpoint_refuses_malformed_requests(
    secured: Secured, params: dict[str, str], code: str
) -> None:
    query = {"service": "estiba-registry", **params}
    reply = await secured.client.request("GET", "/token", params=query, headers=basic("alice"))
    assert reply.status == 400
    assert reply.error_code == code
    assert params[next(iter(params))][:10] in reply.json()["errors"][0]["message"]


async def test_bad_credentials_and_throttling(secured: Secured) -> None:
    c = secured.client
    bad = await secured.token("repository:team-a/app:pull", user="alice", password="wrong-one")
    assert bad.status == 401
    assert bad.error_code == "UNAUTHORIZED"
    assert (await c.request("GET", "/v2/", headers=basic("alice", "wrong-one"))).status == 401
    assert (await c.request("GET", "/v2/", headers={"Authorization": "Bearer junk"})).status == 401
    assert (await c.request("GET", "/v2/", headers={"Authorization": "Digest x"})).status == 401
    assert (await secured.token(user="alice", password="wrong-two")).status == 401
    locked = await secured.token(user="alice")  # the right password, but 3 failures already
    assert locked.status == 429
    assert locked.error_code == "TOOMANYREQUESTS"
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    assert (await c.request("GET", "/v2/", headers=basic("alice"))).status == 429
    assert (await secured.token(user="bob")).status == 200  # other accounts go on


async def test_every_verb_allowed_and_denied(secured: Secured) -> None:
    c = secured.client
    alice = basic("alice")
    assert (await secured.push("team-a/app", "v1", alice)).status == 201
    digest = digest_of(image_manifest([LAYER]))
    layer = digest_of(LAYER)
    bob = basic("bob")
    # bob pulls team-a, but may not push, delete, or overwrite there
    assert (await c.request("GET", "/v2/team-a/app/manifests/v1", headers=bob)).status == 200
    assert (await c.request("HEAD", f"/v2/team-a/app/blobs/{layer}", headers=bob)).status == 200
    assert (await c.request("GET", f"/v2/team-a/app/blobs/{layer}", headers=bob)).status == 200
    assert (await c.request("GET", "/v2/team-a/app/tags/list", headers=bob)).status == 200
    refs = await c.request("GET", f"/v2/team-a/app/referrers/{digest}", headers=bob)
    assert refs.status == 200
    for method, path in [
        ("POST", "/v2/team-a/app/blobs/uploads/"),
        ("PUT", "/v2/team-a/app/manifests/v2"),
        ("DELETE", f"/v2/team-a/app/manifests/{digest}"),
        ("DELETE", "/v2/team-a/app/manifests/v1"),
        ("DELETE", f"/v2/team-a/app/blobs/{layer}"),
    ]:
        reply = await c.request(method, path, headers=bob, data=b"{}")
        assert reply.status == 403, (method, path, reply)
        assert reply.error_code == "DENIED"
    # carol holds nothing: 403 on pulls too, and the catalog hides everything from her
    carol = basic("carol")
    assert (await c.request("GET", "/v2/team-a/app/manifests/v1", headers=carol)).status == 403
    assert (await c.request("GET", "/v2/team-a/app/tags/list", headers=carol)).status == 403
    assert (await c.request("GET", "/v2/_catalog", headers=carol)).json() == {"repositories": []}
    # alice may push but not move a tag (no overwrite); re-pushing the same manifest is fine
    other = image_manifest([LAYER], annotations={"v": "2"})
    reply = await c.request(
        "PUT", "/v2/team-a/app/manifests/v1", data=other,
        headers={**alice, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )  # fmt: skip
    assert reply.status == 403
    assert "overwrite" in reply.json()["errors"][0]["message"]
    assert (await secured.push("team-a/app", "v1", alice)).status == 201
    await secured.access.grant(ADMIN, "user", "alice", "team-a/app", ["pull", "push", "overwrite"])
    reply = await c.request(
        "PUT", "/v2/team-a/app/manifests/v1", data=other,
        headers={**alice, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )  # fmt: skip
    assert reply.status == 201
    # ... and the exact grant on team-a/app, lacking delete, now wins over team-a/**
    gone = await c.request("DELETE", "/v2/team-a/app/manifests/v1", headers=alice)
    assert gone.status == 403
    await secured.access.revoke_grant(ADMIN, "user", "alice", "team-a/app")
    assert (await c.request("DELETE", "/v2/team-a/app/manifests/v1", headers=alice)).status == 202
    blob_gone = await c.request("DELETE", f"/v2/team-a/app/blobs/{layer}", headers=alice)
    assert blob_gone.status == 202
    # the catalog shows each caller what it may pull
    assert (await secured.push("team-b/tool", "v1", basic("bob"))).status == 201
    assert (await secured.push("public/base", "v1", basic("root"))).status == 201
    listed = await c.request("GET", "/v2/_catalog", headers=bob)
    assert listed.json() == {"repositories": ["public/base", "team-a/app", "team-b/tool"]}
    listed = await c.request("GET", "/v2/_catalog", headers=alice)
    assert listed.json() == {"repositories": ["public/base", "team-a/app"]}
    page = await c.request("GET", "/v2/_catalog?n=1", headers=alice)
    assert page.json() == {"repositories": ["public/base"]}
    assert "last=public%2Fbase" in page.headers["Link"]
    # anonymous pull where allowed, 401 elsewhere; the audit log saw all of it
    assert (await c.manifest("public/base", "v1")).status == 200
    assert (await c.request("GET", "/v2/public/base/tags/list")).status == 200
    assert (await c.request("POST", "/v2/public/base/blobs/uploads/")).status == 401
    entries = await secured.access.audit(0, "", 1000)
    seen = {(e.actor, e.action, e.target, e.outcome) for e in entries}
    assert ("alice", "push", "team-a/app:v1", "ok") in seen
    assert ("bob", "push", "team-a/app:v2", "denied") in seen
    assert ("alice", "delete", "team-a/app:v1", "ok") in seen
    assert ("alice", "delete", f"team-a/app:{layer}", "ok") in seen


async def test_tokens_are_checked_against_scope_and_live_grants(secured: Secured) -> None:
    c = secured.client
    pull_only = await secured.bearer("repository:team-a/app:pull", user="alice")
    upload = await c.request("POST", "/v2/team-a/app/blobs/uploads/", headers=pull_only)
    assert upload.status == 403  # alice may push, but this token does not say so
    assert upload.error_code == "DENIED"
    assert upload.headers["WWW-Authenticate"].endswith(
        'scope="repository:team-a/app:pull,push",error="insufficient_scope"'
    )
    push = await secured.bearer("repository:team-a/app:pull,push", user="alice")
    assert (await secured.push("team-a/app", "v1", push)).status == 201
    bob_token = await secured.bearer("repository:team-a/app:pull,push", user="bob")
    denied = await c.request("POST", "/v2/team-a/app/blobs/uploads/", headers=bob_token)
    assert denied.status == 403
    assert (await c.manifest_with("team-a/app", "v1", bob_token)).status == 200

    # bob leaves team-b: his token still verifies, but grants nothing any more
    await secured.access.remove_member(ADMIN, "team-b", "bob")
    assert (await c.manifest_with("team-a/app", "v1", bob_token)).status == 403

    # mounting needs pull on the source: without it the client must upload the bytes
    layer = digest_of(LAYER)
    await secured.access.add_member(ADMIN, "team-b", "bob", "member")
    bob_b = await secured.bearer(
        "repository:team-b/copy:pull,push", "repository:team-a/app:pull", user="bob"
    )
    mount = f"/v2/team-b/copy/blobs/uploads/?mount={layer}&from=team-a/app"
    assert (await c.request("POST", mount, headers=bob_b)).status == 201
    await secured.access.grant(ADMIN, "user", "carol", "carol/**", ["pull", "push"])
    carol_token = await secured.bearer(
        "repository:carol/x:pull,push", "repository:team-a/app:pull", user="carol"
    )
    refused = await c.request("POST", mount.replace("team-b/copy", "carol/x"), headers=carol_token)
    assert refused.status == 202  # an upload session instead of the blob
    head = await c.request("HEAD", f"/v2/carol/x/blobs/{layer}", headers=carol_token)
    assert head.status == 404


async def test_robots_expire_and_are_revoked(secured: Secured) -> None:
    c = secured.client
    robot = basic("team-a+ci", secured.robot_secret)
    assert (await secured.push("team-a/app", "v1", robot)).status == 201
    token = await secured.bearer(
        "repository:team-a/app:pull,push", user="team-a+ci", password=secured.robot_secret
    )
    assert (await c.manifest_with("team-a/app", "v1", token)).status == 200
    assert (await c.request("GET", "/v2/team-a/other/tags/list", headers=robot)).status == 403
    await secured.access.revoke_robot(ADMIN, "team-a+ci")
    assert (await c.manifest_with("team-a/app", "v1", token)).status == 401  # the token in flight
    assert (await c.manifest_with("team-a/app", "v1", robot)).status == 401
    refused = await secured.token(user="team-a+ci", password=secured.robot_secret)
    assert refused.status == 401

    _, short = await secured.access.create_robot(ADMIN, "team-a", "short", ttl=0.5)
    await secured.access.grant(ADMIN, "robot", "team-a+short", "team-a/**", ["pull"])
    alive = basic("team-a+short", short)
    assert (await c.manifest_with("team-a/app", "v1", alive)).status == 200
    await asyncio.sleep(0.6)
    assert (await c.manifest_with("team-a/app", "v1", alive)).status == 401
    assert (await secured.token(user="team-a+short", password=short)).status == 401


async def test_failed_logins_from_one_address_are_throttled(start_registry: StartRegistry) -> None:
    async with secured_registry(start_registry, login_failures_per_address=4) as s:
        for user in ("alice", "bob", "carol", "nobody"):
            assert (await s.token(user=user, password="guess-1234")).status == 401
        throttled = await s.token(user="root")  # a fifth account, the right password
        assert throttled.status == 429
        assert "address" in throttled.json()["errors"][0]["message"]
        assert int(throttled.headers["Retry-After"]) > 0


async def test_no_token_endpoint_and_no_challenge_with_auth_off(
    start_registry: StartRegistry,
) -> None:
    async with start_registry() as running:
        token = await running.client.request("GET", "/token", params={"service": "x"})
        assert token.status == 404
        assert (await running.client.request("GET", "/v2/")).status == 200
        assert (await running.client.request("GET", "/v2/_catalog")).status == 200
