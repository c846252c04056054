"""Reference parsing and normalisation, case by case against Docker's rules."""

from __future__ import annotations

import pytest

from services.engine.images import reference as refs
from services.engine.images.platform import host_platform, parse_platform
from services.kit import errors

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "path", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", "", None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("library/busybox", "docker.io", "library/busybox", "", None),
        ("docker.io/busybox", "docker.io", "library/busybox", "", None),
        ("index.docker.io/user/app", "docker.io", "user/app", "", None),
        ("user/app:v2", "docker.io", "user/app", "v2", None),
        ("localhost/app", "localhost", "app", "", None),
        ("localhost:5000/team/app:1.0", "localhost:5000", "team/app", "1.0", None),
        ("registry.example.com/a/b/c", "registry.example.com", "a/b/c", "", None),
        ("127.0.0.1:44/x", "127.0.0.1:44", "x", "", None),
        ("Host/app", "Host", "app", "", None),
        (f"busybox@sha256:{HEX}", "docker.io", "library/busybox", "", f"sha256:{HEX}"),
        (f"r.io:1/a:t@sha256:{HEX}", "r.io:1", "a", "t", f"sha256:{HEX}"),
        ("a_b-c__d/e---f", "docker.io", "a_b-c__d/e---f", "", None),
    ],
)
def test_parse(text: str, registry: str, path: str, tag: str, digest: str | None) -> None:
    ref = refs.parse(text)
    assert (ref.registry, ref.path, ref.tag) == (registry, path, tag)
    assert (str(ref.digest) if ref.digest else None) == digest


@pytest.mark.parametrize(
    "text",
    ["", "Busybox", "busybox:", "a:b:c", "-a", "a//b", "busybox@sha256:abc", HEX, "a/b_", "x:-tag"],
)
def test_invalid(text: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        refs.parse(text)


def test_familiar_names() -> None:
    assert refs.familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert refs.familiar("docker.io/user/app:v1") == "user/app:v1"
    assert refs.familiar("docker.io/library/a/b:v1") == "library/a/b:v1"
    assert refs.familiar(f"docker.io/library/x@sha256:{HEX}") == f"x@sha256:{HEX}"
    assert refs.familiar("localhost:5000/team/app:1.0") == "localhost:5000/team/app:1.0"
    assert refs.parse("busybox").with_default_tag().tagged == "docker.io/library/busybox:latest"
    assert refs.parse("localhost:5000/app").familiar_repository == "localhost:5000/app"


def test_platforms() -> None:
    assert host_platform("x86_64").architecture == "amd64"
    arm = host_platform("aarch64")
    assert (arm.architecture, arm.variant) == ("arm64", "v8")
    assert str(parse_platform("linux/arm/v7")) == "linux/arm/v7"
    with pytest.raises(errors.InvalidArgument):
        parse_platform("linux")
