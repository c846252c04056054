"""``/estiba/v1/registry/...``: administration of the registry, over its gRPC API.

JSON field names are the proto's (snake_case); every field is present, zero values included.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from estiba.registry.v1 import registry_pb2 as pb
from services.gateway.docker import params
from services.gateway.errors import json_response
from services.gateway.keys import BACKENDS
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


def setup(app: web.Application) -> None:
    r = app.router
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
