"""``estiba cp`` out of a container writes under the target and nowhere else."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from client.cli import copying
from client.errors import ClientError


def _archive(*members: tarfile.TarInfo) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member in members:
            data = b"x" * member.size
            tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o4755
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def test_a_tree_with_links_is_written_inside(tmp_path: Path) -> None:
    tar = _archive(
        _member("etc", tarfile.DIRTYPE),
        _member("etc/hosts"),
        _member("etc/localtime", tarfile.SYMTYPE, "/usr/share/zoneinfo/UTC"),
        _member("etc/again", tarfile.LNKTYPE, "etc/hosts"),
    )
    copying._extract(tar, tmp_path, tar.getmembers())
    assert (tmp_path / "etc/hosts").read_bytes() == b"x"
    assert (tmp_path / "etc/hosts").stat().st_mode & 0o7777 == 0o755  # no setuid
    assert str((tmp_path / "etc/localtime").readlink()) == "/usr/share/zoneinfo/UTC"


@pytest.mark.parametrize(
    "members",
    [
        [_member("/etc/passwd")],
        [_member("../escape")],
        [_member("a/../../escape")],
        [_member("out", tarfile.SYMTYPE, "/tmp"), _member("out/file")],
        [_member("hard", tarfile.LNKTYPE, "/etc/shadow")],
        [_member("hard", tarfile.LNKTYPE, "../x")],
        [_member("null", tarfile.CHRTYPE)],
    ],
)
def test_what_would_land_outside_is_refused(tmp_path: Path, members: list[tarfile.TarInfo]) -> None:
    target = tmp_path / "target"
    target.mkdir()
    tar = _archive(*members)
    with pytest.raises(ClientError, match="refusing"):
        copying._extract(tar, target, tar.getmembers())
    assert [p.name for p in tmp_path.iterdir()] == ["target"]
    assert list(target.iterdir()) == []


def test_a_link_already_on_disk_is_not_followed_out(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (target / "up").symlink_to(tmp_path)
    tar = _archive(_member("up/file"))
    with pytest.raises(ClientError, match="outside"):
        copying._extract(tar, target, tar.getmembers())
