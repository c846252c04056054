"""Keep a test instance of estiba to itself on a shared machine.

Every kernel object it creates carries a prefix of its own (links, namespaces, the nftables
table, the engine's cgroup parent); it does not turn on the host's IP forwarding; and
``remove_kernel_objects`` deletes exactly those objects afterwards, even if the test failed.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.netd.kernel import remove_all


def kernel_prefix() -> str:
    """ "t" + 4 hex digits: netd's kernel_prefix rule, and unique per instance."""
    return "t" + secrets.token_hex(2)


def isolated_env(root: Path, run_dir: Path, prefix: str) -> dict[str, str]:
    return {
        "ESTIBA_ROOT": str(root),
        "ESTIBA_RUN_DIR": str(run_dir),
        "ESTIBA_NETD_KERNEL_PREFIX": prefix,
        "ESTIBA_NETD_IP_FORWARD": "false",
        "ESTIBA_ENGINE_CGROUP_PARENT": f"estiba-{prefix}",
    }


def remove_kernel_objects(env: dict[str, str]) -> None:
    prefix = env["ESTIBA_NETD_KERNEL_PREFIX"]
    remove_all(prefix, Path(env["ESTIBA_RUN_DIR"]) / "netns")
    remove_cgroup_parent(env["ESTIBA_ENGINE_CGROUP_PARENT"])


def remove_cgroup_parent(parent: str) -> None:
    """runc removes a container's cgroups but never their parent."""
    root = Path("/sys/fs/cgroup")
    for hierarchy in root.iterdir():
        top = hierarchy / parent
        if not top.is_dir():
            continue
        for child in sorted(top.iterdir(), reverse=True):
            if child.is_dir():
                child.rmdir()
        top.rmdir()
