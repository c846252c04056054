"""The ServiceInfo message every service puts into its GetInfo answer."""

from __future__ import annotations

import os
from pathlib import Path

from estiba.types.v1 import service_pb2
from services.kit.daemon import started_at
from services.kit.version import GIT_COMMIT, VERSION


def service_info(name: str, *, state_dir: Path, node_name: str) -> service_pb2.ServiceInfo:
    return service_pb2.ServiceInfo(
        name=name,
        version=VERSION,
        git_commit=GIT_COMMIT,
        pid=os.getpid(),
        started_at=started_at(),
        state_dir=str(state_dir),
        node_name=node_name,
    )
