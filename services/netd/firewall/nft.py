"""The domain's ``Firewall`` port: the nft command, fed a whole-table script on stdin.

Why the command and not libnftables in-process: a table is replaced at start, when the set of
networks changes, and when a container with published ports comes, goes or changes its default
network, never for an ordinary sandbox, so the ~15 ms of a process start is paid rarely; in
exchange nothing that can block or crash (a C library on the event loop's thread) runs inside
netd, and the script is exactly what an operator can replay with ``nft -f``. Should ports get
busy, the same script can go to libnftables through ctypes instead (~0.3 ms), behind this same
port.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence

from services.kit import errors
from services.kit.log import get_logger
from services.netd.domain import names
from services.netd.domain.models import Network, Publication
from services.netd.firewall.ruleset import render

log = get_logger()


class NftFirewall:
    """netd's table ``inet estiba_<prefix>``, applied with ``nft -f -``."""

    def __init__(self, prefix: str, nft: str = "nft") -> None:
        self.table = names.firewall_table(prefix)
        self._nft = shutil.which(nft) or nft

    async def apply(self, networks: Sequence[Network], published: Sequence[Publication]) -> None:
        await run_nft(self._nft, render(self.table, networks, published))
        log.info(
            "firewall_applied",
            table=f"inet {self.table}",
            networks=len(networks),
            published=len(published),
        )


async def run_nft(nft: str, script: str) -> None:
    """Run one nft script as one transaction; its error text becomes the error's message."""
    try:
        proc = await asyncio.create_subprocess_exec(
            nft,
            "-f",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError as exc:
        raise errors.FailedPrecondition(
            f"the {nft} command is not installed (Debian: apt-get install nftables)",
            reason="NFT_MISSING",
        ) from exc
    _, stderr = await proc.communicate(script.encode())
    if proc.returncode != 0:
        raise errors.Internal(
            f"nft refused netd's ruleset: {stderr.decode(errors='replace').strip()}",
            reason="FIREWALL_FAILED",
        )
