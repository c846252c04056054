"""The host's resolver and hosts files, read for each sandbox (they change: DHCP, VPNs).

The rule that turns them into a container's files is in ``domain.dnsfiles``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.netd.domain import dnsfiles

ETC_RESOLV_CONF = Path("/etc/resolv.conf")
SYSTEMD_RESOLV_CONF = Path("/run/systemd/resolve/resolv.conf")
ETC_HOSTS = Path("/etc/hosts")


class HostFileReader:
    """The domain's ``HostFiles`` port on the real files (paths replaceable for tests)."""

    def __init__(
        self,
        etc_resolv_conf: Path = ETC_RESOLV_CONF,
        systemd_resolv_conf: Path = SYSTEMD_RESOLV_CONF,
        etc_hosts: Path = ETC_HOSTS,
    ) -> None:
        self._etc_resolv_conf = etc_resolv_conf
        self._systemd_resolv_conf = systemd_resolv_conf
        self._etc_hosts = etc_hosts

    async def resolv_conf(self) -> str:
        def load() -> str:
            etc = _read(self._etc_resolv_conf) or ""
            return dnsfiles.choose_host_resolv_conf(etc, _read(self._systemd_resolv_conf))

        return await asyncio.to_thread(load)

    async def etc_resolv_conf(self) -> str:
        return await asyncio.to_thread(lambda: _read(self._etc_resolv_conf) or "")

    async def etc_hosts(self) -> str:
        return await asyncio.to_thread(lambda: _read(self._etc_hosts) or dnsfiles.LOCALHOST)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None
