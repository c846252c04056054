"""``GET /v2/<name>/referrers/<digest>``: the manifests whose ``subject`` is a digest (OCI 1.1).

The answer is always an OCI image index (empty when nothing refers to the digest). With
``?artifactType=`` only matching manifests are listed and ``OCI-Filters-Applied: artifactType``
says so.
"""

from __future__ import annotations

from aiohttp import web

from services.registry.domain.manifest_format import OCI_INDEX
from services.registry.domain.models import Descriptor
from services.registry.http.context import json_response, name_of, services

routes = web.RouteTableDef()


@routes.get("/v2/{name:.+}/referrers/{digest}")
async def referrers(request: web.Request) -> web.Response:
    types = request.query.getall("artifactType", [])
    found = await services(request).manifests.referrers(
        name_of(request), request.match_info["digest"], set(types)
    )
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [_view(d) for d in found]}
    headers = {"OCI-Filters-Applied": "artifactType"} if types else {}
    return json_response(body, content_type=OCI_INDEX, headers=headers)


def _view(descriptor: Descriptor) -> dict[str, object]:
    view: dict[str, object] = {
        "mediaType": descriptor.media_type,
        "digest": str(descriptor.digest),
        "size": descriptor.size,
    }
    if descriptor.artifact_type:
        view["artifactType"] = descriptor.artifact_type
    if descriptor.annotations:
        view["annotations"] = dict(descriptor.annotations)
    return view
