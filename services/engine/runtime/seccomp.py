"""Docker's default seccomp policy, turned into the OCI form for this host.

The policy file (containers-common's seccomp.json, Docker's format) lists rules that apply
only with certain capabilities, architectures or kernels; this keeps the rules that apply to a
container with Docker's default capabilities on this machine.

Sub-architectures whose system calls this kernel refuses anyway are left out: libseccomp
builds the whole filter once per architecture listed, and ``runc create`` spends about 10 ms
on each (measured with runc 1.1.5 and Docker's profile: 3 architectures 72-81 ms, without x32
60-68 ms). x32 is the one most kernels refuse: Debian's, for one, answers ENOSYS to x32 calls
unless booted with ``syscall.x32=y``, and then no x32 program can run in a container at all.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PROFILE_PATHS = (Path("/usr/share/containers/seccomp.json"),)
ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
X32 = "SCMP_ARCH_X32"
X32_SYSCALL_BIT = 0x40000000
X32_GETPID = X32_SYSCALL_BIT | 39  # getpid has the same number in the x32 ABI


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
    if X32 in arches and not x32_enabled():
        arches.remove(X32)
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


@functools.cache
def x32_enabled() -> bool:
    """Whether this kernel runs x32 system calls: one x32 ``getpid``, refused with ENOSYS
    where the ABI is compiled out or switched off."""
    if platform.machine() != "x86_64":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(X32_GETPID)) >= 0:
        return True
    return ctypes.get_errno() != errno.ENOSYS


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
