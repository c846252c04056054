"""Overlay settings and names, without the kernel: what every node must compute alike."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from services.kit import config as kconfig
from services.kit import errors
from services.netd.config import NetdConfig
from services.netd.domain import overlay
from services.netd.domain.models import Network


def network(name: str, driver: str = "overlay", **options: str) -> Network:
    return Network(
        id="1" * 64,
        name=name,
        driver=driver,
        subnet=IPv4Network("10.216.5.0/24"),
        gateway=IPv4Address("10.216.5.1"),
        bridge="est-11111111",
        created_at="",
        options=tuple(options.items()),
    )


def test_the_vni_follows_the_name_or_the_option() -> None:
    derived = overlay.vni(network("lab"))
    assert derived == overlay.vni(network("lab"))  # every node computes the same one
    assert 4096 <= derived < 1 << 24
    assert derived != overlay.vni(network("lab2"))
    assert overlay.vni(network("lab", **{overlay.VNI_OPTION: "4242"})) == 4242
    for bad in ("0", "16777216", "4242,4243", "x"):
        with pytest.raises(errors.InvalidArgument):
            overlay.vni(network("lab", **{overlay.VNI_OPTION: bad}))


def test_plans_and_names() -> None:
    underlay = overlay.Underlay(IPv4Address("10.99.0.1"), (IPv4Address("10.99.0.2"),))
    plan = overlay.plan(network("lab"), underlay)
    assert plan is not None
    assert (plan.name, plan.port, plan.peers) == ("estx11111111", 4789, underlay.peers)
    assert overlay.plan(network("lab", driver="bridge"), underlay) is None
    assert overlay.plan(network("lab"), None) is None  # no underlay: the network stays local
    assert overlay.mtu_of(network("lab")) == 1450
    assert overlay.mtu_of(network("lab", driver="bridge")) == 0


def test_settings() -> None:
    env = {"ESTIBA_ROOT": "/tmp/x", "ESTIBA_RUN_DIR": "/tmp/x/run"}
    assert kconfig.load(NetdConfig, "netd", env=env).underlay is None
    given = kconfig.load(
        NetdConfig,
        "netd",
        env={**env, "ESTIBA_NETD_OVERLAY_LOCAL": "10.99.0.1",
             "ESTIBA_NETD_OVERLAY_PEERS": "10.99.0.2,10.99.0.3"},
    )  # fmt: skip
    assert given.underlay == overlay.Underlay(
        IPv4Address("10.99.0.1"), (IPv4Address("10.99.0.2"), IPv4Address("10.99.0.3"))
    )
    for bad in (
        {"ESTIBA_NETD_OVERLAY_PEERS": "10.99.0.2"},
        {"ESTIBA_NETD_OVERLAY_LOCAL": "nowhere"},
        {"ESTIBA_NETD_OVERLAY_LOCAL": "10.99.0.1", "ESTIBA_NETD_OVERLAY_PEERS": "10.99.0.300"},
    ):
        with pytest.raises(Exception, match="overlay_"):
            kconfig.load(NetdConfig, "netd", env={**env, **bad})
