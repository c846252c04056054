"""What callers may pass, and what netd calls its kernel objects: pure."""

from __future__ import annotations

import pytest

from services.kit import errors
from services.netd.domain import names


@pytest.mark.parametrize("cid", ["a" * 64, "web_1", "x.y-z", "A1"])
def test_good_container_ids(cid: str) -> None:
    assert names.check_container_id(cid) == cid


@pytest.mark.parametrize("cid", ["", "../x", "a/b", ".hidden", "-x", "a" * 129, "sp ace"])
def test_bad_container_ids(cid: str) -> None:
    with pytest.raises(errors.InvalidArgument) as caught:
        names.check_container_id(cid)
    assert caught.value.reason == "CONTAINER_ID_INVALID"


@pytest.mark.parametrize("bad", ["", "-web", "web-", "a_b", "a..b", "x" * 65, "a" * 64 + ".b"])
def test_bad_hostnames(bad: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        names.check_hostname(bad)


def test_good_hostnames_and_aliases() -> None:
    assert names.check_hostname("web-1.lab") == "web-1.lab"
    assert names.check_alias("db") == "db"
    with pytest.raises(errors.InvalidArgument):
        names.check_alias("not valid")


def test_veth_names_fit_ifnamsiz_and_start_with_the_prefix() -> None:
    for prefix in ("est", "t1a2b", "abcdef"):
        for cid in ("0123456789abcdef" * 4, "web_1"):
            candidates = names.veth_names(prefix, cid, "net")
            assert all(len(n) <= names.IFNAMSIZ for n in candidates)
            assert all(n.startswith(prefix) for n in candidates)
            assert len(set(candidates)) == len(candidates)


def test_veth_name_shows_the_container_id_when_it_is_hex() -> None:
    assert names.veth_names("est", "0123456789abcdef" * 4, "n")[0] == "est0123456789ab"
    assert names.veth_names("abcdef", "0123456789abcdef" * 4, "n")[0] == "abcdef012345678"
    # Not hexadecimal: a hash, stable for the same container and network.
    first = names.veth_names("est", "web_1", "n")
    assert first == names.veth_names("est", "web_1", "n")
    assert first != names.veth_names("est", "web_1", "m")


def test_link_group_is_stable_per_prefix_and_fits_iproute2() -> None:
    group = names.link_group("est")
    assert group == names.link_group("est")
    assert group != names.link_group("esta")
    for prefix in ("est", "t0000", "zzzzzz"):
        assert 0x1000_0000 <= names.link_group(prefix) < 2**31


def test_bridge_and_table_names() -> None:
    assert names.bridge_name("est", 0) == "est0"
    assert names.firewall_table("est") == "estiba_est"
