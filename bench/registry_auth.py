"""What authentication costs estiba's registry: the same requests with auth off and on, in one
run (``bench/registry --auth``).

Each round starts two registries on empty storage, one with auth off and one with auth on, and
pushes a small image (one 4 KiB layer) to ``bench/img`` and ``public/img`` (anonymous pull on)
of each. Their requests then interleave (ten to one, ten to the other), so both see the same
machine load. Measured from this process over loopback with Python's http.client:

* **authorization per request**: ``--requests`` GETs of the manifest over one keep-alive
  connection; with auth on each carries a Bearer token (and, separately, Basic credentials,
  whose check is cached after the first scrypt). The median latency with auth on minus the
  median with auth off is what deciding a request costs.
* **token round trip added to a pull**: ``--pulls`` fresh pulls of the manifest the way a
  Docker client does them, each on a new connection: ``GET /v2/``, then with auth on the 401,
  ``GET /token`` (Basic, or anonymous for ``public/img``) and the retried ``GET`` manifest with
  the token. The median on minus the median off is what the token dance adds.
* **first login**: a token request whose credentials are not cached yet pays scrypt (N=2^14,
  r=8): deliberately slow, once per client and minute.
* **in process**, where machine load and HTTP do not blur it: the registry's own code deciding
  a Bearer request (verify the token, check the grants: 200 grants on the user's team) and
  issuing a token, timed over ``--requests`` calls on a registry.db in the workspace.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import http.client
import json
import os
import time
from typing import Any

import grpc

from bench import _common as c
from bench.registry import EstibaRegistry
from estiba.registry.v1 import access_pb2 as apb
from estiba.registry.v1 import access_pb2_grpc
from services.kit import log
from services.kit.db import Database
from services.registry.domain.access_models import Principal
from services.registry.domain.accounts import AccessService, AccessState, Actor
from services.registry.domain.authn import Authenticator, AuthSettings
from services.registry.domain.scopes import parse_scopes
from services.registry.domain.throttle import LoginThrottle
from services.registry.http.auth import Caller
from services.registry.store.migrations import MIGRATIONS
from services.registry.store.sqlite import SqliteMetadata

USER, PASSWORD = "bench", "bench-password"
REPO, PUBLIC = "bench/img", "public/img"
SERVICE = "estiba-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class AuthRegistry(EstibaRegistry):
    """estiba's registry with auth on or off and a gRPC port for the bench's administration."""

    def __init__(self, ws: c.Workspace, procs: c.Processes, *, auth: bool) -> None:
        self.name = "estiba-auth" if auth else "estiba-open"
        super().__init__(ws, procs)
        self.auth = auth
        self.grpc_port = 0

    def command(self) -> tuple[list[str], dict[str, str]]:
        argv, env = super().command()
        self.grpc_port = c.free_port()
        env.update(
            ESTIBA_REGISTRY_AUTH="true" if self.auth else "false",
            ESTIBA_REGISTRY_GRPC_LISTEN=f"127.0.0.1:{self.grpc_port}",
            ESTIBA_REGISTRY_GC_INTERVAL="0",
        )
        return argv, env

    def provision(self) -> None:
        """A user allowed on bench/**, anonymous pull on public/**."""
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = access_pb2_grpc.AccessStub(channel)
            stub.CreateUser(apb.CreateUserRequest(name=USER, password=PASSWORD), timeout=30)
            grant = apb.Grant(subject_kind="user", subject=USER, pattern="**",
                              actions=["pull", "push"])  # fmt: skip
            stub.SetGrant(apb.SetGrantRequest(grant=grant), timeout=30)
            stub.SetAnonymousPull(apb.SetAnonymousPullRequest(pattern="public/**", enabled=True),
                                  timeout=30)  # fmt: skip


def _basic() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class Conn:
    """One keep-alive HTTP connection to the registry."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.http = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        self.http.request(method, path, body=body or None, headers=headers or {})
        resp = self.http.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def close(self) -> None:
        self.http.close()


def _token(conn: Conn, scope: str, *, basic: bool = True) -> str:
    headers = {"Authorization": _basic()} if basic else {}
    status, _, body = conn.call("GET", f"/token?service={SERVICE}&scope={scope}", headers)
    if status != 200:
        raise c.BenchError(f"token endpoint answered {status}: {body[:200]!r}")
    return str(json.loads(body)["token"])


def push_image(reg: AuthRegistry, repo: str) -> None:
    """One layer, a config and a manifest, pushed monolithically (with a token if auth is on)."""
    conn = Conn(reg.address)
    try:
        headers = {}
        if reg.auth:
            headers = {"Authorization": f"Bearer {_token(conn, f'repository:{repo}:pull,push')}"}
        layer, config = os.urandom(4096), b"{}"
        descs = []
        for blob, media in ((config, "application/vnd.oci.image.config.v1+json"),
                            (layer, "application/vnd.oci.image.layer.v1.tar")):  # fmt: skip
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            status, _, body = conn.call(
                "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}",
                {**headers, "Content-Type": "application/octet-stream"}, blob,
            )  # fmt: skip
            if status != 201:
                raise c.BenchError(f"blob push answered {status}: {body[:200]!r}")
            descs.append({"mediaType": media, "digest": digest, "size": len(blob)})
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": descs[0], "layers": [descs[1]]}).encode()  # fmt: skip
        status, _, body = conn.call(
            "PUT", f"/v2/{repo}/manifests/v1", {**headers, "Content-Type": OCI_MANIFEST}, manifest
        )
        if status != 201:
            raise c.BenchError(f"manifest push answered {status}: {body[:200]!r}")
    finally:
        conn.close()


def open_session(reg: AuthRegistry, how: str) -> tuple[Conn, dict[str, str]]:
    """A keep-alive connection and the headers of a manifest GET; ``how``: none, bearer, basic."""
    conn = Conn(reg.address)
    headers = {"Accept": OCI_MANIFEST}
    if how == "bearer":
        headers["Authorization"] = f"Bearer {_token(conn, f'repository:{REPO}:pull')}"
    elif how == "basic":
        headers["Authorization"] = _basic()
    return conn, headers


def timed_get(conn: Conn, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    status, _, _ = conn.call("GET", f"/v2/{REPO}/manifests/v1", headers)
    elapsed = time.perf_counter() - t0
    if status != 200:
        raise c.BenchError(f"GET manifest answered {status}")
    return elapsed


def fresh_pull(reg: AuthRegistry, repo: str, *, anonymous: bool) -> float:
    """A client's first pull of a manifest: ping, (401, token,) GET; new connection each time."""
    t0 = time.perf_counter()
    conn = Conn(reg.address)
    try:
        status, headers, _ = conn.call("GET", "/v2/")
        auth: dict[str, str] = {}
        if status == 401:
            challenge = headers.get("www-authenticate", "")
            if not challenge.startswith("Bearer "):
                raise c.BenchError(f"unexpected challenge {challenge!r}")
            token = _token(conn, f"repository:{repo}:pull", basic=not anonymous)
            auth = {"Authorization": f"Bearer {token}"}
        elif status != 200:
            raise c.BenchError(f"GET /v2/ answered {status}")
        status, _, _ = conn.call(
            "GET", f"/v2/{repo}/manifests/v1", {"Accept": OCI_MANIFEST, **auth}
        )
        if status != 200:
            raise c.BenchError(f"GET manifest answered {status}")
    finally:
        conn.close()
    return time.perf_counter() - t0


def first_login(reg: AuthRegistry) -> float:
    """A token request with credentials not seen before (scrypt runs)."""
    conn = Conn(reg.address)
    try:
        t0 = time.perf_counter()
        _token(conn, f"repository:{REPO}:pull")
        return time.perf_counter() - t0
    finally:
        conn.close()


@dataclasses.dataclass
class Figures:
    per_request: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    pulls: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    first_login: list[float] = dataclasses.field(default_factory=list)


def measure(
    off: AuthRegistry, on: AuthRegistry, requests: int, pulls: int, figures: Figures
) -> None:
    """Both registries run at once; their requests interleave, so both see the same load."""
    for reg in (off, on):
        reg.start()
        reg.provision()
    figures.first_login.append(first_login(on))
    for reg in (off, on):
        push_image(reg, REPO)
        push_image(reg, PUBLIC)
    sessions = {"none": open_session(off, "none"), "bearer": open_session(on, "bearer"),
                "basic": open_session(on, "basic")}  # fmt: skip
    try:
        for conn, headers in sessions.values():
            for _ in range(50):  # warm up
                timed_get(conn, headers)
        for i in range(0, requests, 10):
            for how, (conn, headers) in sessions.items():
                times = figures.per_request.setdefault(how, [])
                times.extend(timed_get(conn, headers) for _ in range(min(10, requests - i)))
    finally:
        for conn, _ in sessions.values():
            conn.close()
    for _ in range(pulls):
        for reg in (off, on):
            setting = "on" if reg.auth else "off"
            for repo, label in ((REPO, "user"), (PUBLIC, "anonymous")):
                took = fresh_pull(reg, repo, anonymous=label == "anonymous")
                figures.pulls.setdefault(f"{label}-{setting}", []).append(took)


async def _in_process(ws: c.Workspace, n: int) -> dict[str, float]:
    log.configure("bench", level="warning")  # the registry's info lines are not the bench's output
    db = await Database.open(ws / "in-process" / "registry.db", MIGRATIONS)
    try:
        meta = SqliteMetadata(db)
        state = await AccessState.load(meta)
        access = AccessService(meta, state, time.time)
        auth = Authenticator(meta, state, access, AuthSettings(), LoginThrottle())
        await auth.start()
        admin = Actor("bench")
        await access.create_user(admin, USER, PASSWORD, False)
        await access.create_team(admin, "team")
        await access.add_member(admin, "team", USER, "member")
        for i in range(200):
            await access.grant(admin, "team", "team", f"team/r{i}/**", ["pull"])
        await access.grant(admin, "team", "team", "team/**", ["pull", "push"])
        user: Principal = await auth.login(USER, PASSWORD, "127.0.0.1")
        scopes = parse_scopes(["repository:team/app:pull,push"])
        token = (await auth.issue(user, scopes, False)).token
        t0 = time.perf_counter()
        for _ in range(n):
            principal, claims = auth.from_token(token)
            if not Caller(principal, state, claims).may("team/app", "push"):
                raise c.BenchError("the in-process check refused an allowed request")
        check = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for _ in range(n):
            await auth.issue(user, scopes, False)
        issue = (time.perf_counter() - t0) / n
        return {"bearer_check_us": round(check * 1e6, 2), "token_issue_us": round(issue * 1e6, 2)}
    finally:
        await db.close()


def _ms(values: list[float]) -> float | None:
    return round(c.median(values) * 1000, 3) if values else None


def run(
    rounds: int, requests: int, pulls: int, ws: c.Workspace, procs: c.Processes
) -> dict[str, Any]:
    """Measure both settings, alternating; the figures in milliseconds."""
    off, on = AuthRegistry(ws, procs, auth=False), AuthRegistry(ws, procs, auth=True)
    figures = Figures()
    for rnd in range(rounds):
        try:
            measure(off, on, requests, pulls, figures)
        finally:
            off.stop()
            on.stop()
        c.say(f"round {rnd + 1} of {rounds} measured")
    req = {k: _ms(v) for k, v in figures.per_request.items()}
    pull = {k: _ms(v) for k, v in figures.pulls.items()}

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 3)

    return {
        "request_median_ms": req,
        "authorization_added_ms": {
            "bearer": delta(req.get("bearer"), req.get("none")),
            "basic_cached": delta(req.get("basic"), req.get("none")),
        },
        "pull_median_ms": pull,
        "token_round_trip_added_ms": {
            "user": delta(pull.get("user-on"), pull.get("user-off")),
            "anonymous": delta(pull.get("anonymous-on"), pull.get("anonymous-off")),
        },
        "first_login_ms": _ms(figures.first_login),
        "in_process": asyncio.run(_in_process(ws, requests)),
        "requests_per_setting": requests * rounds,
        "pulls_per_setting": pulls * rounds,
        "rounds": rounds,
    }


def text_report(data: dict[str, Any]) -> str:
    req, pull = data["request_median_ms"], data["pull_median_ms"]
    added, trip = data["authorization_added_ms"], data["token_round_trip_added_ms"]
    lines = [
        "estiba registry, auth off vs on (median, ms, loopback)",
        f"  GET manifest, keep-alive:  off {req.get('none')}  bearer {req.get('bearer')}  "
        f"basic {req.get('basic')}",
        f"  authorization adds:        bearer {added['bearer']}  basic (cached) "
        f"{added['basic_cached']}   target < 1 ms",
        f"  fresh pull (ping, manifest): off {pull.get('user-off')}  on {pull.get('user-on')}"
        f"   anonymous: off {pull.get('anonymous-off')}  on {pull.get('anonymous-on')}",
        f"  token round trip adds:     user {trip['user']}  anonymous {trip['anonymous']}"
        "   target < 5 ms",
        f"  first login (scrypt):      {data['first_login_ms']}",
        f"  in process, per call:      bearer check {data['in_process']['bearer_check_us']} us"
        f"  token issue {data['in_process']['token_issue_us']} us",
        f"  {data['requests_per_setting']} requests and {data['pulls_per_setting']} pulls per "
        f"setting over {data['rounds']} rounds",
    ]
    return "\n".join(lines)
