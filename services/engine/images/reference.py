"""Image references, parsed and normalised the way Docker does.

``busybox`` is ``docker.io/library/busybox:latest``; ``localhost:5000/team/app:1.0`` names the
registry ``localhost:5000``; ``name@sha256:...`` pins a manifest. The first path component is a
registry host when it contains ``.`` or ``:``, is ``localhost``, or has upper-case letters;
otherwise the name lives on Docker Hub, where one-component names get ``library/``.

Names are stored fully qualified and shown "familiar" (``busybox:latest``,
``localhost:5000/team/app:1.0``), as Docker shows them in RepoTags.
"""

from __future__ import annotations

import dataclasses
import re

from services.engine.content.digest import Digest
from services.kit import errors

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
MAX_NAME = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_HOST = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_ID = re.compile(r"(?:sha256:)?([a-f0-9]{64})")


def invalid(value: str, why: str) -> errors.InvalidArgument:
    shown = value if len(value) <= 100 else value[:97] + "..."
    return errors.InvalidArgument(
        f"invalid reference format {shown!r}: {why}", reason="REFERENCE_INVALID"
    )


@dataclasses.dataclass(frozen=True)
class Reference:
    """A parsed image reference. ``tag`` is "" when none was written."""

    registry: str
    path: str
    tag: str = ""
    digest: Digest | None = None

    @property
    def repository(self) -> str:
        """The fully qualified repository, ``docker.io/library/busybox``."""
        return f"{self.registry}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """The repository as Docker shows it, ``busybox``."""
        return _short(self.repository)

    def with_default_tag(self) -> Reference:
        """The tag ``latest`` when neither a tag nor a digest was written."""
        if self.tag or self.digest:
            return self
        return dataclasses.replace(self, tag=DEFAULT_TAG)

    @property
    def tagged(self) -> str:
        """``repository:tag``, the key of a tag (requires a tag)."""
        return f"{self.repository}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def familiar(self) -> str:
        out = self.familiar_repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse(value: str) -> Reference:
    """Parse and normalise ``value``; raise InvalidArgument(REFERENCE_INVALID)."""
    if not value:
        raise invalid(value, "empty")
    rest, at, digest_text = value.partition("@")
    digest = Digest.parse(digest_text) if at else None
    tag = ""
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise invalid(value, f"tag {tag!r} is not valid")
    registry, path = split_registry(rest)
    if not _HOST.fullmatch(registry):
        raise invalid(value, f"registry {registry!r} is not a host name")
    if _ID.fullmatch(rest):
        raise invalid(value, "cannot use a 64-character hexadecimal id as a repository name")
    if not _PATH.fullmatch(path):
        raise invalid(value, "repository name must be lowercase")
    if len(f"{registry}/{path}") > MAX_NAME:
        raise invalid(value, f"repository name is longer than {MAX_NAME} characters")
    return Reference(registry, path, tag, digest)


def split_registry(name: str) -> tuple[str, str]:
    """(registry, path) of a name without tag or digest, with Docker Hub defaults applied."""
    first, slash, remainder = name.partition("/")
    if slash and (any(c in first for c in ".:") or first == "localhost" or first != first.lower()):
        registry, path = first, remainder
    else:
        registry, path = DEFAULT_REGISTRY, name
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    return registry, path


def image_id(value: str) -> str | None:
    """The full ``sha256:<hex>`` when ``value`` is a complete image id, with or without prefix."""
    m = _ID.fullmatch(value)
    return f"sha256:{m.group(1)}" if m else None


def familiar(name: str) -> str:
    """A stored fully qualified name (``docker.io/library/x:tag``, ``...@sha256:``) shown short."""
    repo, at, digest = name.partition("@")
    if not at:
        slash, colon = repo.rfind("/"), repo.rfind(":")
        if colon > slash:
            repo, tag = repo[:colon], repo[colon:]
        else:
            tag = ""
        return _short(repo) + tag
    return f"{_short(repo)}@{digest}"


def _short(repository: str) -> str:
    prefix = f"{DEFAULT_REGISTRY}/"
    if not repository.startswith(prefix):
        return repository
    path = repository[len(prefix) :]
    official = path.removeprefix("library/")
    return official if "/" not in official else path
