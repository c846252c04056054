"""Real registry clients driven by the tests: skopeo (a subprocess) and oras-py (in a thread).

The registry under test runs on the test's event loop, so nothing here may block it: skopeo runs
as an asyncio subprocess and every oras call goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import oras.client  # type: ignore[import-untyped]


async def skopeo(*args: str, check: bool = True) -> tuple[int, str]:
    """Run ``skopeo --insecure-policy <args>``; returns its exit status and output."""
    proc = await asyncio.create_subprocess_exec(
        "skopeo",
        "--insecure-policy",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed ({proc.returncode}):\n{text}")
    return proc.returncode or 0, text


async def skopeo_push(layout: Path, tag: str, ref: str) -> None:
    await skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:{tag}", f"docker://{ref}")


async def skopeo_pull(ref: str, layout: Path, tag: str = "latest") -> None:
    await skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:{tag}")


class Oras:
    """oras-py against one registry, every call run in a worker thread."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._client = oras.client.OrasClient(hostname=host, insecure=True)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self._client, method), *args, **kwargs)

    def target(self, ref: str) -> str:
        return f"{self.host}/{ref}"
