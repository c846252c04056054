"""The platform this node runs images for, and choosing it from a multi-platform index."""

from __future__ import annotations

import os

from services.engine.content.manifest import Descriptor, Index, Platform
from services.kit import errors

# uname -m → (GOARCH, variant), as OCI platforms name them.
_MACHINES = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", ""),
    "i386": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


def host_platform(machine: str | None = None) -> Platform:
    arch, variant = _MACHINES.get(machine or os.uname().machine, (machine or "", ""))
    return Platform("linux", arch, variant)


def parse_platform(value: str) -> Platform:
    """``linux/arm64/v8`` (or ``linux/amd64``) as a Platform."""
    parts = value.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.InvalidArgument(
            f"invalid platform {value!r}: use os/arch[/variant]", reason="PLATFORM_INVALID"
        )
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")


def _variant_matches(want: Platform, have: Platform) -> bool:
    if want.variant == have.variant:
        return True
    # arm64 images seldom name their variant: v8 is what "no variant" means there.
    return want.architecture == "arm64" and {want.variant, have.variant} <= {"", "v8"}


def select(index: Index, want: Platform) -> Descriptor:
    """The manifest of ``index`` for ``want``; an exact variant beats an implied one."""
    candidates = [
        d
        for d in index.manifests
        if d.platform is not None
        and d.platform.os == want.os
        and d.platform.architecture == want.architecture
        and _variant_matches(want, d.platform)
    ]
    candidates.sort(key=lambda d: d.platform is None or d.platform.variant != want.variant)
    if not candidates:
        offered = (
            ", ".join(sorted({str(d.platform) for d in index.manifests if d.platform})) or "none"
        )
        raise errors.NotFound(
            f"no matching manifest for {want} in the manifest list entries (offered: {offered})",
            reason="PLATFORM_UNKNOWN",
        )
    return candidates[0]
