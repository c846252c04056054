"""The runtime adapter with real runc and conmon over a real overlay (root only)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.engine.containers import resolve
from services.engine.containers.attach import Input, Session
from services.engine.containers.models import Container, ContainerSpec, ImageForContainer, Sandbox
from services.engine.runtime import cgroups, conmon, mounts, runcstate
from services.engine.runtime.runner import ContainerRunner

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runc"),
                                reason="needs root, runc and conmon")  # fmt: skip

APPLETS = ("sh", "echo", "cat", "sleep", "id", "hostname", "ls", "touch", "true", "env")


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="er-", dir="/tmp"))
    yield path
    for mounted in path.glob("state/containers/*/merged"):
        mounts.unmount(mounted)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def image(base: Path) -> ImageForContainer:
    layer = base / "layer"
    (layer / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", layer / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", layer / "bin" / applet)
    (layer / "etc").mkdir()
    (layer / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n"
    )
    (layer / "etc" / "group").write_text("root:x:0:\nbob:x:1000:\nstaff:x:50:bob\n")
    (layer / "tmp").mkdir(mode=0o1777)
    return ImageForContainer(id="sha256:" + "0" * 64, config={"Cmd": ["sh"]}, layers=(layer,))


@pytest.fixture
async def runner(base: Path) -> AsyncIterator[ContainerRunner]:
    parent = "estiba-test-" + secrets.token_hex(3)
    r = ContainerRunner(base / "state", base / "run", parent, "runc")
    yield r
    await r.trash_emptied()
    remove_cgroup_parent(parent)


def remove_cgroup_parent(parent: str) -> None:
    """runc removes a container's cgroups but never their parent."""
    for d in Path("/sys/fs/cgroup").iterdir():
        with_parent = d / parent
        if with_parent.is_dir():
            for child in with_parent.iterdir():
                if child.is_dir():
                    child.rmdir()
            with_parent.rmdir()


def container(spec: ContainerSpec, image: ImageForContainer) -> Container:
    cid = resolve.new_id()
    return Container(
        id=cid, name="t-" + cid[:6], image_id=image.id, spec=spec,
        resolved=resolve.resolve(spec, image.config, cid), created="now",
        sandbox=Sandbox(mode="none", netns="", hosts="", resolv_conf=""),
    )  # fmt: skip


async def run_collect(
    runner: ContainerRunner, c: Container, image: ImageForContainer, stdin: bytes = b""
) -> tuple[int, bytes, bytes]:
    runner.prepare(c)
    runner.write_etc_files(c)
    session = Session(stdin=True, stdout=True, stderr=True, detach_keys=b"")

    async def connect(paths: conmon.Paths) -> None:
        await session.connect(paths.attach_socket)
        if stdin:
            await session.feed(Input(data=stdin))
        await session.feed(Input(close=True))

    c.pid, c.conmon_pid = await runner.start(c, image, connect)
    out, err = b"", b""
    async for chunk in session.output():
        if chunk.stream == 1:
            out += chunk.data
        else:
            err += chunk.data
    code, _ = await runner.wait_exit(c)
    await runner.cleanup(c)
    session.close()
    return code, out, err


async def test_output_streams_exit_code_and_stdin(
    runner: ContainerRunner, image: ImageForContainer
) -> None:
    spec = ContainerSpec(image="t", cmd=("sh", "-c", "echo out; echo err >&2; cat; exit 7"),
                         open_stdin=True, stdin_once=True)  # fmt: skip
    c = container(spec, image)
    code, out, err = await run_collect(runner, c, image, stdin=b"piped\n")
    assert code == 7
    assert out == b"out\npiped\n"
    assert err == b"err\n"
    assert b"stdout F out" in runner.log_path(c.id).read_bytes()
    assert not mounts.is_mountpoint(runner.dir(c.id) / "merged")


async def test_user_hostname_and_isolation(
    runner: ContainerRunner, image: ImageForContainer
) -> None:
    spec = ContainerSpec(
        image="t", user="bob", hostname="boxy",
        cmd=("sh", "-c", "id -u; id -G; hostname; grep -E '^(CapEff|Seccomp):' /proc/self/status;"
             " ls /sys/class/net"),
        open_stdin=True,
    )  # fmt: skip
    code, out, _ = await run_collect(runner, container(spec, image), image)
    lines = out.decode().split()
    assert code == 0
    assert lines[0] == "1000"
    assert "50" in out.decode().splitlines()[1].split()
    assert "boxy" in lines
    assert "Seccomp:\t2" in out.decode()
    assert "CapEff:\t0000000000000000" in out.decode()  # an unprivileged user has none
    assert out.decode().strip().endswith("lo")  # a private network namespace


async def test_read_write_layer_survives_a_restart(
    runner: ContainerRunner, image: ImageForContainer
) -> None:
    c = container(ContainerSpec(image="t", cmd=("touch", "/made-here")), image)
    assert (await run_collect(runner, c, image))[0] == 0
    assert (runner.dir(c.id) / "upper" / "made-here").exists()
    again = Container(**{**c.__dict__, "resolved": resolve.resolve(
        ContainerSpec(image="t", cmd=("ls", "/made-here")), image.config, c.id)})  # fmt: skip
    code, out, _ = await run_collect(runner, again, image)
    assert (code, out) == (0, b"/made-here\n")
    assert not (image.layers[0] / "made-here").exists()
    await runner.remove(c.id)
    assert not runner.dir(c.id).exists()


async def test_kill_and_a_bad_command(runner: ContainerRunner, image: ImageForContainer) -> None:
    c = container(ContainerSpec(image="t", cmd=("sleep", "100")), image)
    runner.prepare(c)
    runner.write_etc_files(c)

    async def nothing(paths: conmon.Paths) -> None:
        return None

    c.pid, c.conmon_pid = await runner.start(c, image, nothing)
    assert runner.is_alive(c)
    await runner.kill(c, "SIGKILL")
    code, _ = await asyncio.wait_for(runner.wait_exit(c), 10)
    assert code == 137
    await runner.cleanup(c)
    bad = container(ContainerSpec(image="t", cmd=("/no/such/binary",)), image)
    runner.prepare(bad)
    runner.write_etc_files(bad)
    from services.kit import errors

    with pytest.raises(errors.FailedPrecondition, match="no such file"):
        await runner.start(bad, image, nothing)
    assert not mounts.is_mountpoint(runner.dir(bad.id) / "merged")


def test_socket_paths_stay_short(base: Path) -> None:
    path = conmon.Paths(base, base, base / "run" / "attach", "0123456789ab").attach_socket
    assert len(str(path)) < 108
    assert socket.AF_UNIX


def cgroup_dirs(runner: ContainerRunner, c: Container) -> list[Path]:
    return [d / runner.cgroup_parent / c.id for d in Path("/sys/fs/cgroup").iterdir()
            if (d / runner.cgroup_parent / c.id).is_dir()]  # fmt: skip


async def test_start_and_forget_without_starting_runc(
    runner: ContainerRunner, image: ImageForContainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runc start and runc delete done by the engine itself (exec fifo, state dir, cgroups)."""
    ran: list[str] = []
    run = runner.runc._run

    async def counted(*args: str, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str, str]:
        ran.append(args[0])
        return await run(*args, ok_codes=ok_codes)

    monkeypatch.setattr(runner.runc, "_run", counted)
    c = container(ContainerSpec(image="t", cmd=("sh", "-c", "echo started; sleep 100")), image)
    runner.prepare(c)
    runner.write_etc_files(c)

    async def nothing(paths: conmon.Paths) -> None:
        return None

    c.pid, c.conmon_pid = await runner.start(c, image, nothing)
    state = await runner.runc.state(c.id)
    assert state is not None
    assert state["status"] == "running"  # no exec fifo left: started
    for _ in range(100):
        if b"started" in runner.log_path(c.id).read_bytes():
            break
        await asyncio.sleep(0.05)
    assert b"stdout F started" in runner.log_path(c.id).read_bytes()
    before = cgroup_dirs(runner, c)
    assert before  # the container's cgroups exist while it runs
    state_dir = runner.runc.state_root / c.id
    # its init runs, so its cgroups are busy: left to runc, with nothing removed
    assert not runcstate.forget_stopped(state_dir, cgroups.dirs(f"/{runner.cgroup_parent}/{c.id}"))
    assert len(cgroup_dirs(runner, c)) == len(before)
    assert (state_dir / "state.json").exists()
    await runner.kill(c, "SIGKILL")
    assert (await asyncio.wait_for(runner.wait_exit(c), 10))[0] == 137
    await runner.remove(c.id)
    assert ran == ["state", "kill"]  # neither runc start nor runc delete
    assert not runner.runc.knows(c.id)
    assert await runner.runc.state(c.id) is None
    assert cgroup_dirs(runner, c) == []
    assert not runner.dir(c.id).exists()
    paths = runner.paths(c)
    assert not (runner.conmon.exit_dir / c.id).exists()  # conmon's files in the run dir, too
    assert not (paths.socket_dir / paths.short_id).is_symlink()


def test_forget_removes_cgroups_deepest_first_then_the_state_and_stops_at_a_busy_one(
    base: Path,
) -> None:
    state_dir = base / "runc" / "x"
    (state_dir / "x").mkdir(parents=True)
    free = [base / "cg" / "a", base / "cg" / "b"]
    (free[1] / "child" / "grandchild").mkdir(parents=True)
    free[0].mkdir()
    busy = base / "cg" / "busy"
    (busy / "child").mkdir(parents=True)
    (busy / "tasks").write_text("1\n")  # cannot be removed, as a cgroup with a process
    assert not runcstate.forget_stopped(state_dir, [*free, busy])
    assert state_dir.is_dir()  # left for runc as it was
    assert runcstate.forget_stopped(state_dir, [*free, base / "cg" / "never-made"])
    assert not any(path.exists() for path in free)
    assert not state_dir.exists()
    assert runcstate.forget_stopped(state_dir, [busy])  # nothing left: nothing to do


async def test_start_of_an_init_that_died_meanwhile_fails_as_runc_says(
    runner: ContainerRunner, image: ImageForContainer
) -> None:
    c = container(ContainerSpec(image="t", cmd=("true",)), image)
    runner.prepare(c)
    runner.write_etc_files(c)

    async def kill_init(paths: conmon.Paths) -> None:
        os.kill(int(paths.pidfile.read_text()), signal.SIGKILL)

    from services.kit import errors

    with pytest.raises(errors.Internal, match="runc start failed"):
        await asyncio.wait_for(runner.start(c, image, kill_init), 20)
    assert not runner.runc.knows(c.id)
    assert not mounts.is_mountpoint(runner.dir(c.id) / "merged")


@pytest.mark.parametrize("auto_remove", [True, False])
async def test_only_a_root_removed_at_exit_is_volatile(
    runner: ContainerRunner, image: ImageForContainer, auto_remove: bool
) -> None:
    """A --rm container's writes need not outlive a crash: its overlay skips syncing."""
    spec = ContainerSpec(image="t", cmd=("cat", "/proc/mounts"), auto_remove=auto_remove)
    code, out, _ = await run_collect(runner, container(spec, image), image)
    assert code == 0
    root = next(line.split() for line in out.decode().splitlines() if line.split()[1] == "/")
    assert root[2] == "overlay"
    options = root[3].split(",")  # newer kernels show the option as fsync=volatile
    assert ("volatile" in options or "fsync=volatile" in options) is auto_remove


async def test_a_removed_directory_goes_through_the_trash(
    runner: ContainerRunner, image: ImageForContainer
) -> None:
    """rm answers once the directory is renamed away; the trash is emptied after, and what a
    removal before a crash left there goes with it."""
    c = container(ContainerSpec(image="t", cmd=("touch", "/made")), image)
    assert (await run_collect(runner, c, image))[0] == 0
    left = runner.trash_dir / ("0" * 64)
    (left / "upper").mkdir(parents=True)
    (left / "upper" / "file").write_text("from before a crash")
    await runner.remove(c.id)
    assert not runner.dir(c.id).exists()
    await runner.trash_emptied()
    assert list(runner.trash_dir.iterdir()) == []
