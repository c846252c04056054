"""A registry with auth on and a cast of accounts, for the tests of access control.

alice (team-a admin), bob (team-b), carol (no team), root (registry administrator), and the
robot team-a+ci. team-a may pull, push and delete on team-a/**; team-b may pull team-a/** and
pull and push team-b/**; the robot may pull and push team-a/app; anyone may pull public/**.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from services.registry.domain.accounts import Actor
from tests.registry.conftest import Running, StartRegistry
from tests.registry.helpers import EMPTY_JSON, Client, Reply, digest_of, image_manifest

ADMIN = Actor("test")
PASSWORD = "s3cret-pass"
LAYER = b"layer of team-a" * 100


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Secured:
    def __init__(self, running: Running) -> None:
        self.running = running
        self.client: Client = running.client
        self.access = running.registry.services.access
        self.robot_secret = ""

    async def token(
        self, *scopes: str, user: str = "", password: str = PASSWORD, **params: str
    ) -> Reply:
        query = [("service", "estiba-registry"), *(("scope", s) for s in scopes)]
        query += list(params.items())
        headers = basic(user, password) if user else {}
        return await self.client.request("GET", "/token", params=query, headers=headers)

    async def bearer(
        self, *scopes: str, user: str = "", password: str = PASSWORD
    ) -> dict[str, str]:
        reply = await self.token(*scopes, user=user, password=password)
        assert reply.status == 200, reply
        return bearer(reply.json()["token"])

    async def push(self, repo: str, tag: str, headers: dict[str, str]) -> Reply:
        for blob in (EMPTY_JSON, LAYER):
            start = await self.client.request("POST", f"/v2/{repo}/blobs/uploads/", headers=headers)
            if start.status != 202:
                return start
            done = await self.client.request(
                "PUT", self.client.location(start), params={"digest": digest_of(blob)},
                data=blob, headers=headers,
            )  # fmt: skip
            assert done.status == 201, done
        return await self.client.request(
            "PUT", f"/v2/{repo}/manifests/{tag}", data=image_manifest([LAYER]),
            headers={**headers, "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )  # fmt: skip


@contextlib.asynccontextmanager
async def secured_registry(
    start_registry: StartRegistry, **settings: Any
) -> AsyncIterator[Secured]:
    async with start_registry(auth=True, login_failures_per_account=3, **settings) as running:
        s = Secured(running)
        acc = s.access
        for user, admin in (("alice", False), ("bob", False), ("carol", False), ("root", True)):
            await acc.create_user(ADMIN, user, PASSWORD, admin)
        await acc.create_team(ADMIN, "team-a")
        await acc.create_team(ADMIN, "team-b")
        await acc.add_member(ADMIN, "team-a", "alice", "admin")
        await acc.add_member(ADMIN, "team-b", "bob", "member")
        await acc.grant(ADMIN, "team", "team-a", "team-a/**", ["pull", "push", "delete"])
        await acc.grant(ADMIN, "team", "team-b", "team-a/**", ["pull"])
        await acc.grant(ADMIN, "team", "team-b", "team-b/**", ["pull", "push"])
        await acc.set_anonymous_pull(ADMIN, "public/**", True)
        _, s.robot_secret = await acc.create_robot(ADMIN, "team-a", "ci", ttl=0)
        await acc.grant(ADMIN, "robot", "team-a+ci", "team-a/app", ["pull", "push"])
        yield s
