"""estiba.registry.v1.Repositories: what is stored, how much space it takes, deletions."""

from __future__ import annotations

from typing import Any

import grpc

from estiba.registry.v1 import registry_pb2 as pb
from estiba.registry.v1 import registry_pb2_grpc
from services.registry.api import convert
from services.registry.domain.manifests import ManifestService
from services.registry.domain.models import Page
from services.registry.domain.repositories import RepositoryService

Context = grpc.aio.ServicerContext[Any, Any]


def _page_size(value: int) -> int | None:
    return value if value > 0 else None


def _next_token(page: Page) -> str:
    return page.last if page.more else ""


class RepositoriesServicer(registry_pb2_grpc.RepositoriesServicer):
    def __init__(self, repositories: RepositoryService, manifests: ManifestService) -> None:
        self._repos = repositories
        self._manifests = manifests

    async def ListRepositories(
        self, request: pb.ListRepositoriesRequest, context: Context
    ) -> pb.ListRepositoriesResponse:
        page = await self._repos.catalog(_page_size(request.page_size), request.page_token)
        return pb.ListRepositoriesResponse(names=page.items, next_page_token=_next_token(page))

    async def ListTags(self, request: pb.ListTagsRequest, context: Context) -> pb.ListTagsResponse:
        page = await self._repos.tags(
            request.repository, _page_size(request.page_size), request.page_token
        )
        return pb.ListTagsResponse(tags=page.items, next_page_token=_next_token(page))

    async def ListManifests(
        self, request: pb.ListManifestsRequest, context: Context
    ) -> pb.ListManifestsResponse:
        found = await self._repos.manifests(request.repository)
        return pb.ListManifestsResponse(manifests=[convert.manifest(m) for m in found])

    async def GetUsage(self, request: pb.GetUsageRequest, context: Context) -> pb.GetUsageResponse:
        repos = await self._repos.usage(request.repository or None)
        totals = await self._repos.store_usage()
        return pb.GetUsageResponse(
            repositories=[convert.usage(u) for u in repos],
            blobs=totals.blobs,
            blob_bytes=totals.blob_bytes,
            uploads=totals.uploads,
            upload_bytes=totals.upload_bytes,
        )

    async def DeleteRepository(
        self, request: pb.DeleteRepositoryRequest, context: Context
    ) -> pb.DeleteRepositoryResponse:
        deleted = await self._repos.delete(request.repository)
        return pb.DeleteRepositoryResponse(
            manifests=deleted.manifests,
            tags=deleted.tags,
            blobs=deleted.blobs,
            uploads=deleted.uploads,
        )

    async def DeleteTag(
        self, request: pb.DeleteTagRequest, context: Context
    ) -> pb.DeleteTagResponse:
        await self._manifests.delete_tag(request.repository, request.tag)
        return pb.DeleteTagResponse()

    async def DeleteManifest(
        self, request: pb.DeleteManifestRequest, context: Context
    ) -> pb.DeleteManifestResponse:
        await self._manifests.delete_manifest(request.repository, request.digest)
        return pb.DeleteManifestResponse()

    def register(self, server: grpc.aio.Server) -> None:
        registry_pb2_grpc.add_RepositoriesServicer_to_server(self, server)
