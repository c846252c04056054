"""Docker's seccomp profile in OCI form for this host."""

from __future__ import annotations

import platform
from typing import Any

import pytest

from services.engine.runtime import seccomp

PROFILE: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {
            "architecture": "SCMP_ARCH_X86_64",
            "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        },
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0}]},
    ],
}

x86_64_only = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 host")


@x86_64_only
@pytest.mark.parametrize("x32", [True, False])
def test_x32_is_listed_only_where_the_kernel_runs_it(
    monkeypatch: pytest.MonkeyPatch, x32: bool
) -> None:
    monkeypatch.setattr(seccomp, "x32_enabled", lambda: x32)
    arches = seccomp.to_oci(PROFILE, {"CAP_CHOWN"})["architectures"]
    expected = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"] + (["SCMP_ARCH_X32"] if x32 else [])
    assert arches == expected


def test_rules_for_other_capabilities_and_newer_kernels_are_left_out() -> None:
    oci = seccomp.to_oci(PROFILE, {"CAP_CHOWN"})
    assert [r["names"] for r in oci["syscalls"]] == [["read", "write"], ["personality"]]
    assert oci["syscalls"][1]["args"] == [{"index": 0}]
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO"
    assert oci["defaultErrnoRet"] == 1
    with_admin = seccomp.to_oci(PROFILE, {"CAP_SYS_ADMIN"})
    assert ["bpf"] in [r["names"] for r in with_admin["syscalls"]]


@x86_64_only
def test_the_x32_probe_answers_for_this_kernel() -> None:
    # Either answer is right for some kernel; the probe must not fail or kill the process.
    assert seccomp.x32_enabled() in (True, False)
