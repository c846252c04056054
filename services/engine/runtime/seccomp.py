"""Docker's default seccomp policy, turned into the OCI form for this host.

The policy file (containers-common's seccomp.json, Docker's format) lists rules that apply
only with certain capabilities, architectures or kernels; this keeps the rules that apply to a
container with Docker's default capabilities on this machine.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PROFILE_PATHS = (Path("/usr/share/containers/seccomp.json"),)
ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}


def load_default(caps: Iterable[str]) -> dict[str, Any] | None:
    """The OCI seccomp section, or None when no policy file is installed."""
    for path in PROFILE_PATHS:
        if path.is_file():
            return to_oci(json.loads(path.read_text()), set(caps))
    return None


def to_oci(profile: dict[str, Any], caps: set[str]) -> dict[str, Any]:
    arch = ARCH.get(platform.machine(), "")
    arches: list[str] = []
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == arch:
            arches = [arch, *entry.get("subArchitectures", [])]
    kernel = _kernel_version()
    rules = []
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, caps, arch, kernel):
            continue
        out: dict[str, Any] = {"names": rule["names"], "action": rule["action"]}
        for key in ("args", "errnoRet"):
            if rule.get(key):
                out[key] = rule[key]
        rules.append(out)
    result: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "SCMP_ACT_ERRNO")}
    if "defaultErrnoRet" in profile:
        result["defaultErrnoRet"] = profile["defaultErrnoRet"]
    result["architectures"] = arches
    result["syscalls"] = rules
    return result


def _applies(rule: dict[str, Any], caps: set[str], arch: str, kernel: tuple[int, ...]) -> bool:
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("arches") and not _arch_in(arch, inc["arches"]):
        return False
    if inc.get("minKernel") and kernel < _parse_version(inc["minKernel"]):
        return False
    if exc.get("caps") and set(exc["caps"]) & caps:
        return False
    return not (exc.get("arches") and _arch_in(arch, exc["arches"]))


def _arch_in(arch: str, names: list[str]) -> bool:
    short = {"SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_AARCH64": "arm64"}.get(arch, "")
    return arch in names or short in names or ("x86_64" in names and short == "amd64")


def _kernel_version() -> tuple[int, ...]:
    return _parse_version(os.uname().release)


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("-")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
