"""Run one container: overlay root, spec, conmon + runc; and undo it all again.

Directory layout (``root`` is the engine's state dir, ``run`` its run dir)::

    root/containers/<id>/upper, work     the read-write layer (kept until rm)
    root/containers/<id>/merged          the overlay mount while it runs
    root/containers/<id>/bundle/         config.json, conmon's pid files, exit, ctl
    root/containers/<id>/ctr.log         its output (k8s-file format, written by conmon)
    root/containers/<id>/hosts, resolv.conf, hostname   bind-mounted into /etc
    root/trash/<id>                      a removed container's directory, until it is emptied
    run/runc/                            runc's state root
    run/attach/<short id> → bundle       conmon's attach socket link (short: sun_path is 108)
    run/exits/<id>                       conmon's exit files
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from services.engine.containers.models import Container, ExecRequest, ImageForContainer, Usage
from services.engine.runtime import cgroups, conmon, mounts, runcstate, seccomp, spec
from services.engine.runtime.execproc import ExecProcess
from services.engine.runtime.runc import Runc
from services.engine.runtime.users import resolve_user
from services.kit import errors
from services.kit.tasks import spawn

INIT_BINARIES = (Path("/usr/bin/tini-static"), Path("/usr/bin/catatonit"))


class ContainerRunner:
    def __init__(
        self,
        state_dir: Path,
        run_dir: Path,
        cgroup_parent: str,
        runtime: str,
        *,
        volume_path: Callable[[str], Path] | None = None,
    ) -> None:
        self.containers_dir = state_dir / "containers"
        self.trash_dir = state_dir / "trash"
        self._trash_sweeper: asyncio.Task[None] | None = None
        self._trash_added = False
        self.volume_path = volume_path or (lambda name: state_dir / "volumes" / name / "_data")
        self.run_dir = run_dir
        self.cgroup_parent = cgroup_parent
        self.runc = Runc(run_dir / "runc", runtime)
        self.conmon = conmon.Conmon(self.runc.path, self.runc.state_root, run_dir / "exits")
        self.seccomp = seccomp.load_default(spec.DEFAULT_CAPS)
        self._seccomp_json: str | None = None

    def dir(self, cid: str) -> Path:
        return self.containers_dir / cid

    def paths(self, c: Container) -> conmon.Paths:
        return self._paths(c.id)

    def _paths(self, cid: str) -> conmon.Paths:
        base = self.dir(cid)
        return conmon.Paths(base / "bundle", base / "ctr.log", self.run_dir / "attach", cid[:12])

    def log_path(self, cid: str) -> Path:
        return self.dir(cid) / "ctr.log"

    def prepare(self, c: Container) -> None:
        """Make the container's directories (at create; its /etc files follow once its
        sandbox is known, with ``write_etc_files``)."""
        base = self.dir(c.id)
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in ("upper", "work", "merged", "bundle"):
            (base / sub).mkdir(exist_ok=True)

    def write_etc_files(self, c: Container) -> None:
        """hosts, resolv.conf, hostname; rewritten in place so bind mounts keep seeing them."""
        base = self.dir(c.id)
        sandbox = c.sandbox
        hosts = sandbox.hosts if sandbox and sandbox.hosts else _default_hosts(c.resolved.hostname)
        resolv = sandbox.resolv_conf if sandbox and sandbox.resolv_conf else _host_resolv_conf()
        for name, text in (
            ("hosts", hosts),
            ("resolv.conf", resolv),
            ("hostname", c.resolved.hostname + "\n"),
        ):
            with open(base / name, "w", encoding="utf-8") as handle:
                handle.write(text)

    async def start(
        self,
        c: Container,
        image: ImageForContainer,
        before_start: Callable[[conmon.Paths], Awaitable[None]],
    ) -> tuple[int, int]:
        """Mount, create through conmon, let attachers connect, then start. (pid, conmon pid)."""
        base = self.dir(c.id)
        merged = base / "merged"
        if self.runc.knows(c.id):  # a leftover from an earlier run of this container
            await self.runc.delete(c.id)
        mounts.unmount(merged)
        lowers = list(reversed(image.layers))
        mounts.mount_overlay(
            lowers, base / "upper", base / "work", merged, volatile=c.spec.auto_remove
        )
        try:
            paths = self.paths(c)
            config = self._spec(c, merged)
            (paths.bundle / "config.json").write_text(self._config_json(config))
            pid = await self.conmon.create(
                c.id,
                c.name,
                paths,
                tty=c.spec.tty,
                stdin=c.spec.open_stdin,
                stdin_once=c.spec.stdin_once and not c.spec.tty,  # as Docker: a tty stays
            )
            await before_start(paths)
            await self.runc.start(c.id, pid)
        except BaseException:
            await self.runc.delete(c.id)
            mounts.unmount(merged)
            raise
        return pid, conmon.read_pid(paths.conmon_pidfile)

    def _config_json(self, config: dict[str, object]) -> str:
        """config.json's text, with the default seccomp section (7 kB, the same for every
        container and most of the file) serialized once per engine rather than per start."""
        linux = config["linux"]
        assert isinstance(linux, dict)
        if self.seccomp is None or linux.get("seccomp") is not self.seccomp:
            return json.dumps(config)
        if self._seccomp_json is None:
            self._seccomp_json = json.dumps(self.seccomp)
        rest = json.dumps({k: v for k, v in linux.items() if k != "seccomp"})
        linux_text = f'{rest[:-1]}, "seccomp": {self._seccomp_json}}}'
        top = json.dumps({k: v for k, v in config.items() if k != "linux"})
        return f'{top[:-1]}, "linux": {linux_text}}}'

    def _spec(self, c: Container, merged: Path) -> dict[str, object]:
        uid, gid, extra = resolve_user(merged, c.resolved.user)
        base = self.dir(c.id)
        binds, tmpfs = [], []
        for m in c.spec.mounts:
            if m.type == "tmpfs":
                tmpfs.append(spec.TmpfsMount(m.target, m.options))
            elif m.type == "volume":
                source = self.volume_path(m.source)
                _copy_up(merged, m.target, source)
                binds.append(spec.BindMount(source, m.target, m.read_only))
            else:
                binds.append(spec.BindMount(Path(m.source), m.target, m.read_only))
        init = next((p for p in INIT_BINARIES if p.exists()), None) if c.spec.init else None
        if c.spec.init and init is None:
            raise errors.FailedPrecondition("--init needs tini-static or catatonit on the node")
        sandbox = c.sandbox
        netns = (
            None
            if sandbox is not None and sandbox.mode == "host"
            else (sandbox.netns if sandbox else "")
        )
        run = spec.RunSpec(
            args=c.resolved.args,
            env=c.resolved.env,
            cwd=c.resolved.working_dir,
            uid=uid,
            gid=gid,
            additional_gids=extra,
            tty=c.spec.tty,
            hostname=c.resolved.hostname,
            rootfs=merged,
            cgroups_path=self._cgroup(c),
            netns=netns or None,
            etc_files={
                "/etc/hosts": base / "hosts",
                "/etc/resolv.conf": base / "resolv.conf",
                "/etc/hostname": base / "hostname",
            },
            binds=tuple(binds),
            tmpfs=tuple(tmpfs),
            read_only=c.spec.read_only,
            no_new_privileges=c.spec.no_new_privileges,
            limits=spec.Limits(
                c.spec.resources.memory,
                c.spec.resources.nano_cpus,
                c.spec.resources.pids_limit,
                c.spec.resources.cpu_shares,
            ),
            init=init,
            seccomp=self.seccomp,
            domainname=c.spec.domainname,
        )
        config = spec.build(run)
        if netns == "":  # no sandbox: a private, empty network namespace
            linux = config["linux"]
            assert isinstance(linux, dict)
            linux["namespaces"].append({"type": "network"})
        return config

    async def wait_exit(self, c: Container) -> tuple[int, bool]:
        """Wait until the container's conmon is gone; (exit code, killed for memory)."""
        if c.conmon_pid and conmon.is_conmon_of(c.conmon_pid, c.id):
            await conmon.wait_process_exit(c.conmon_pid)
        paths = self.paths(c)
        code = conmon.read_exit_code(paths)
        for _ in range(50):  # conmon writes the file just before it exits; be patient once
            if code is not None:
                break
            await asyncio.sleep(0.01)
            code = conmon.read_exit_code(paths)
        return (code if code is not None else 255), paths.oom_file.exists()

    async def cleanup(self, c: Container) -> None:
        """After the process ended: forget it in runc and unmount its root (each once)."""
        if not await asyncio.to_thread(self._release, c.id, remove=False):
            await self.runc.delete(c.id)

    async def remove(self, cid: str) -> None:
        """Take down what is left of the stopped container ``cid``: runc's state and cgroups,
        its mounted root, its directory; each step is skipped when already done."""
        if not await asyncio.to_thread(self._release, cid, remove=True):
            await self.runc.delete(cid)
            await asyncio.to_thread(self._delete_files, cid)
        self.empty_trash()

    def empty_trash(self) -> None:
        """Delete what removals moved to the trash, in the background (and at the engine's start,
        what a removal before a crash left there)."""
        self._trash_added = True
        if self._trash_sweeper is None or self._trash_sweeper.done():
            self._trash_sweeper = spawn(self._sweep_trash(), name="engine-trash")

    async def trash_emptied(self) -> None:
        """Return once the trash has been emptied of what was put there so far."""
        if self._trash_sweeper is not None:
            await asyncio.shield(self._trash_sweeper)

    async def _sweep_trash(self) -> None:
        while self._trash_added:
            self._trash_added = False
            await asyncio.to_thread(self._delete_trash)

    def _delete_trash(self) -> None:
        with contextlib.suppress(FileNotFoundError), os.scandir(self.trash_dir) as entries:
            for entry in list(entries):
                shutil.rmtree(entry.path, ignore_errors=True)

    def _release(self, cid: str, *, remove: bool) -> bool:
        """Blocking, in one worker thread: forget the stopped container in runc's state root,
        unmount its root and, to ``remove`` it, delete its directory. False when runc must
        delete it itself (``runcstate``), which then comes first and the directory after.

        Off the event loop: an unmount waits for the kernel (an RCU grace period), which on a
        busy machine takes milliseconds during which nothing else would be served.
        """
        forgotten = self.runc.is_runc and runcstate.forget_stopped(
            self.runc.state_root / cid, cgroups.dirs(self._cgroup_path(cid))
        )
        mounts.unmount(self.dir(cid) / "merged")
        if forgotten and remove:
            self._delete_files(cid)
        return forgotten

    def _delete_files(self, cid: str) -> None:
        """The container's directory, and what conmon left in the run dir for it: its exit
        file and the link to its attach socket (one of each per container ever run, else).

        The directory is moved to the trash in one rename, and emptied there after the removal
        has answered: deleting a read-write layer file by file takes milliseconds that ``rm``
        and ``run --rm`` need not wait for. Files still open (a log being followed) stay
        readable until closed, as they would have after a delete.
        """
        try:
            self.trash_dir.mkdir(exist_ok=True)
            os.rename(self.dir(cid), self.trash_dir / cid)
        except FileNotFoundError:
            pass  # removed already
        except OSError:
            shutil.rmtree(self.dir(cid), ignore_errors=True)
        paths = self._paths(cid)
        for path in (self.conmon.exit_dir / cid, paths.socket_dir / paths.short_id):
            with contextlib.suppress(OSError):
                path.unlink()

    async def exec(self, c: Container, request: ExecRequest) -> ExecProcess:
        """Start ``request`` in the running container ``c``."""
        bundle = self.paths(c).bundle
        try:
            config = json.loads((bundle / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise errors.FailedPrecondition(f"container {c.id} is not running") from exc
        process = dict(config["process"])
        uid, gid, extra = resolve_user(self.dir(c.id) / "merged", request.user or c.resolved.user)
        env = {item.split("=", 1)[0]: item for item in process.get("env", [])}
        env.update({item.split("=", 1)[0]: item for item in request.env})
        process.update(
            args=list(request.cmd),
            env=list(env.values()),
            cwd=request.working_dir or process.get("cwd", "/"),
            user={"uid": uid, "gid": gid, "additionalGids": list(extra)},
            terminal=request.tty,
        )
        if request.tty:
            process["consoleSize"] = {"height": request.height or 24, "width": request.width or 80}
        else:
            process.pop("consoleSize", None)
        spec_file = bundle / f"exec-{request.id}.json"
        return await ExecProcess.start(
            self.runc.path, self.runc.state_root, c.id, process, spec_file
        )

    async def top(self, c: Container) -> list[list[str]]:
        return await asyncio.to_thread(cgroups.processes, await self.runc.ps(c.id))

    def usage(self, c: Container, host_memory: int) -> Usage:
        return cgroups.usage(self._cgroup(c), host_memory)

    def _cgroup(self, c: Container) -> str:
        return self._cgroup_path(c.id)

    def _cgroup_path(self, cid: str) -> str:
        """The container's cgroup path as runc is given it: absolute, under the engine's."""
        return f"/{self.cgroup_parent}/{cid}"

    def attach_paths(self, c: Container) -> conmon.Paths:
        return self.paths(c)

    async def kill(self, c: Container, signal: str) -> None:
        await self.runc.kill(c.id, signal)

    async def pause(self, c: Container) -> None:
        await self.runc.pause(c.id)

    async def resume(self, c: Container) -> None:
        await self.runc.resume(c.id)

    def resize(self, c: Container, height: int, width: int) -> None:
        conmon.resize(self.paths(c), height, width)

    def is_alive(self, c: Container) -> bool:
        return bool(c.conmon_pid) and conmon.is_conmon_of(c.conmon_pid, c.id)


def _copy_up(merged: Path, target: str, volume: Path) -> None:
    """A volume mounted for the first time over image content starts with that content."""
    image_dir = merged / target.lstrip("/")
    if not volume.is_dir() or any(volume.iterdir()):
        return
    if image_dir.is_dir() and not image_dir.is_symlink():
        shutil.copytree(image_dir, volume, symlinks=True, dirs_exist_ok=True)


def _default_hosts(hostname: str) -> str:
    return (
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    )


def _host_resolv_conf() -> str:
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if not line.startswith("nameserver 127.")]
    return "\n".join(lines) + "\n"
