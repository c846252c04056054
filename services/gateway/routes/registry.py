"""``/estiba/v1/registry/...``: administration of the registry, over its gRPC API.

JSON field names are the proto's (snake_case); every field is present, zero values included.
Request bodies of the access routes (users, teams, robots, grants, anonymous pull, retention)
are the JSON form of the proto request messages; an unknown field is a 400.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from google.protobuf.message import Message

from estiba.registry.v1 import access_pb2 as apb
from estiba.registry.v1 import access_pb2_grpc
from estiba.registry.v1 import registry_pb2 as pb
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.keys import BACKENDS
from services.kit import errors
from services.kit.grpcclient import call

PREFIX = "/estiba/v1/registry"
TIMEOUT = 30.0
GC_TIMEOUT = 3600.0


def view(message: Message) -> dict[str, Any]:
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


async def _call(
    request: web.Request, stub: str, rpc: str, msg: Message, timeout: float = TIMEOUT
) -> web.Response:
    backend = getattr(request.app[BACKENDS], stub)
    reply = await call(getattr(backend, rpc), msg, service="registry", timeout=timeout)
    return json_response(view(reply))


async def repositories(request: web.Request) -> web.Response:
    msg = pb.ListRepositoriesRequest(
        page_size=params.integer(request, "n", 0), page_token=request.query.get("last", "")
    )
    return await _call(request, "registry_repositories", "ListRepositories", msg)


async def tags(request: web.Request) -> web.Response:
    msg = pb.ListTagsRequest(
        repository=request.match_info["name"],
        page_size=params.integer(request, "n", 0),
        page_token=request.query.get("last", ""),
    )
    return await _call(request, "registry_repositories", "ListTags", msg)


async def manifests(request: web.Request) -> web.Response:
    msg = pb.ListManifestsRequest(repository=request.match_info["name"])
    return await _call(request, "registry_repositories", "ListManifests", msg)


async def usage(request: web.Request) -> web.Response:
    msg = pb.GetUsageRequest(repository=request.query.get("repository", ""))
    return await _call(request, "registry_repositories", "GetUsage", msg)


async def delete_repository(request: web.Request) -> web.Response:
    msg = pb.DeleteRepositoryRequest(repository=request.match_info["name"])
    return await _call(request, "registry_repositories", "DeleteRepository", msg)


async def delete_tag(request: web.Request) -> web.Response:
    msg = pb.DeleteTagRequest(repository=request.match_info["name"], tag=request.match_info["tag"])
    return await _call(request, "registry_repositories", "DeleteTag", msg)


async def delete_manifest(request: web.Request) -> web.Response:
    msg = pb.DeleteManifestRequest(
        repository=request.match_info["name"], digest=request.match_info["digest"]
    )
    return await _call(request, "registry_repositories", "DeleteManifest", msg)


async def run_gc(request: web.Request) -> web.Response:
    msg = pb.RunGCRequest(dry_run=params.flag(request, "dry_run"))
    return await _call(request, "registry_maintenance", "RunGC", msg, GC_TIMEOUT)


async def gc_status(request: web.Request) -> web.Response:
    return await _call(request, "registry_maintenance", "GetGCStatus", pb.GetGCStatusRequest())


async def uploads(request: web.Request) -> web.Response:
    msg = pb.ListUploadsRequest(repository=request.query.get("repository", ""))
    return await _call(request, "registry_maintenance", "ListUploads", msg)


async def abort_upload(request: web.Request) -> web.Response:
    msg = pb.AbortUploadRequest(id=request.match_info["id"])
    return await _call(request, "registry_maintenance", "AbortUpload", msg)


# -- access: users, teams, robots, grants, anonymous pull, retention, audit ---------------------


def _access(request: web.Request) -> Any:
    """The Access stub on the registry channel the gateway holds (a stub costs next to nothing)."""
    return access_pb2_grpc.AccessStub(request.app[BACKENDS].channels["registry"])


async def _access_call(request: web.Request, rpc: str, msg: Message) -> web.Response:
    reply = await call(getattr(_access(request), rpc), msg, service="registry", timeout=TIMEOUT)
    return json_response(view(reply))


async def _message(request: web.Request, msg: Message, **fixed: Any) -> Message:
    """``msg`` filled from the JSON body, then from ``fixed`` (values taken from the path)."""
    body = await params.json_body(request)
    body.update(fixed)
    try:
        ParseDict(body, msg)
    except ParseError as exc:
        raise errors.InvalidArgument(f"invalid request body: {exc}") from exc
    return msg


def _rpc(rpc: str, factory: type[Message], **from_path: str) -> Any:
    """A handler that sends ``rpc`` a ``factory`` message built from the body and the path."""

    async def handler(request: web.Request) -> web.Response:
        fixed = {field: request.match_info[key] for field, key in from_path.items()}
        for field, value in request.query.items():
            fixed.setdefault(field, value)
        msg = await _message(request, factory(), **fixed)
        return await _access_call(request, rpc, msg)

    return handler


def _setup_access(r: web.UrlDispatcher) -> None:
    users, teams, robots = f"{PREFIX}/users", f"{PREFIX}/teams", f"{PREFIX}/robots"
    r.add_get(users, _rpc("ListUsers", apb.ListUsersRequest))
    r.add_post(users, _rpc("CreateUser", apb.CreateUserRequest))
    r.add_delete(f"{users}/{{name}}", _rpc("DeleteUser", apb.DeleteUserRequest, name="name"))
    r.add_post(
        f"{users}/{{name}}/password", _rpc("SetPassword", apb.SetPasswordRequest, name="name")
    )
    r.add_post(f"{users}/{{name}}/admin", _rpc("SetAdmin", apb.SetAdminRequest, name="name"))
    r.add_get(teams, _rpc("ListTeams", apb.ListTeamsRequest))
    r.add_post(teams, _rpc("CreateTeam", apb.CreateTeamRequest))
    r.add_delete(f"{teams}/{{name}}", _rpc("DeleteTeam", apb.DeleteTeamRequest, name="name"))
    member = f"{teams}/{{team}}/members/{{user}}"
    r.add_put(member, _rpc("AddMember", apb.AddMemberRequest, team="team", user="user"))
    r.add_delete(member, _rpc("RemoveMember", apb.RemoveMemberRequest, team="team", user="user"))
    r.add_put(f"{teams}/{{team}}/quota", _rpc("SetQuota", apb.SetQuotaRequest, team="team"))
    r.add_get(robots, _rpc("ListRobots", apb.ListRobotsRequest))
    r.add_post(robots, _rpc("CreateRobot", apb.CreateRobotRequest))
    r.add_post(
        f"{robots}/{{name}}/revoke", _rpc("RevokeRobot", apb.RevokeRobotRequest, name="name")
    )
    r.add_delete(f"{robots}/{{name}}", _rpc("DeleteRobot", apb.DeleteRobotRequest, name="name"))
    r.add_get(f"{PREFIX}/grants", _rpc("ListGrants", apb.ListGrantsRequest))
    r.add_put(f"{PREFIX}/grants", _rpc("SetGrant", apb.SetGrantRequest))
    r.add_delete(f"{PREFIX}/grants", _rpc("RevokeGrant", apb.RevokeGrantRequest))
    r.add_get(f"{PREFIX}/anonymous-pull", _rpc("ListAnonymousPull", apb.ListAnonymousPullRequest))
    r.add_put(f"{PREFIX}/anonymous-pull", _rpc("SetAnonymousPull", apb.SetAnonymousPullRequest))
    r.add_get(f"{PREFIX}/retention", _rpc("ListRetention", apb.ListRetentionRequest))
    r.add_put(f"{PREFIX}/retention", _rpc("SetRetention", apb.SetRetentionRequest))
    r.add_delete(f"{PREFIX}/retention", _rpc("DeleteRetention", apb.DeleteRetentionRequest))
    r.add_get(f"{PREFIX}/audit", _rpc("ListAudit", apb.ListAuditRequest))
    r.add_post(
        f"{PREFIX}/signing-key/rotate", _rpc("RotateSigningKey", apb.RotateSigningKeyRequest)
    )


async def trusted_ca(request: web.Request) -> web.Response:
    """The PEM certificate clients of the registry's HTTPS should trust (404 without TLS)."""
    info = await call(
        request.app[BACKENDS].registry_system.GetInfo,
        pb.GetInfoRequest(),
        service="registry",
        timeout=TIMEOUT,
    )
    if not info.tls:
        raise errors.NotFound("the registry serves plain HTTP; there is no certificate")
    return web.Response(text=info.tls_trust_pem, content_type="application/x-pem-file")


def setup(app: web.Application) -> None:
    r = app.router
    _setup_access(r)
    r.add_get(f"{PREFIX}/ca", trusted_ca)
    r.add_get(f"{PREFIX}/repositories", repositories)
    r.add_get(f"{PREFIX}/repositories/{{name:.+}}/tags", tags)
    r.add_get(f"{PREFIX}/repositories/{{name:.+}}/manifests", manifests)
    r.add_delete(f"{PREFIX}/repositories/{{name:.+}}/tags/{{tag}}", delete_tag)
    r.add_delete(f"{PREFIX}/repositories/{{name:.+}}/manifests/{{digest}}", delete_manifest)
    r.add_delete(f"{PREFIX}/repositories/{{name:.+}}", delete_repository)
    r.add_get(f"{PREFIX}/usage", usage)
    r.add_post(f"{PREFIX}/gc", run_gc)
    r.add_get(f"{PREFIX}/gc", gc_status)
    r.add_get(f"{PREFIX}/uploads", uploads)
    r.add_delete(f"{PREFIX}/uploads/{{id}}", abort_upload)
