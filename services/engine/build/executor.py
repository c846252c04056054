"""One build: the stages of a Dockerfile run step by step against the layer cache.

Every step ends in an image (Docker's classic builder does the same): a RUN, COPY, ADD or a
WORKDIR that creates its directory adds a layer made by ``images.build.commit`` (the path
``docker commit`` takes), every other instruction only changes the config and says so in the
history (``empty_layer``). Before a step runs, its cache key is looked up: the parent image,
what the step writes in the history, the config it produces, and for COPY and ADD the names,
modes, owners and content digests of what they copy. A hit reuses the image and runs nothing;
since a new image has a new id, every step after a miss misses too.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import posixpath
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from services.engine.build import copying, fetch, metadata, rootview, running, settings
from services.engine.build import tree as trees
from services.engine.build.context import ContextTree
from services.engine.build.dockerfile import (
    Dockerfile,
    DockerfileError,
    Instruction,
    parse,
    stage_name,
    stages,
)
from services.engine.build.models import BuildOptions, RecordMemo, Stage, StepFailed, copy_config
from services.engine.build.words import Expander, split_raw
from services.engine.containers.manager import ContainerManager
from services.engine.images import build as committing
from services.engine.images import imageconfig
from services.engine.images.models import ImageRecord
from services.engine.images.platform import parse_platform
from services.engine.images.service import ImageService
from services.engine.store.build_cache import BuildCacheStore
from services.kit import errors

Emit = Callable[[str], Awaitable[None]]
LayerMaker = Callable[[Path], Awaitable[int]]
"""Writes a step's layer tar; returns the gzip level its content deserves."""
FAST_GZIP = 1
"""Build layers are compressed quickly, as Docker's are not at all until they are pushed."""


def short(image: ImageRecord | None) -> str:
    return image.id.hex[:12] if image is not None else ""


class Execution:
    def __init__(
        self,
        images: ImageService,
        containers: ContainerManager,
        cache: BuildCacheStore,
        context: ContextTree,
        dockerfile: Dockerfile,
        options: BuildOptions,
        emit: Emit,
        scratch: Path,
        memo: RecordMemo,
    ) -> None:
        self.images = images
        self.containers = containers
        self.cache = cache
        self.context = context
        self.dockerfile = dockerfile
        self.options = options
        self.emit = emit
        self.scratch = scratch
        self.memo = memo
        self.stages: list[Stage] = []
        self.consumed: set[str] = set()
        self.meta_args: dict[str, str | None] = {}
        self.step = 0
        self.total = 0
        self.hits: list[str] = []

    # -- the whole build -------------------------------------------------------------------

    async def run(self) -> ImageRecord:
        self._check_platform(self.options.platform, "--platform")
        groups = self._stages()
        last = len(groups) - 1
        if self.options.target:
            names = [stage_name(g[0]) for g in groups]
            if self.options.target.lower() not in names:
                raise errors.InvalidArgument(
                    f"failed to reach build target {self.options.target} in Dockerfile",
                    reason="BUILD_TARGET_UNKNOWN",
                )
            last = names.index(self.options.target.lower())
        self.total = sum(len(g) for g in groups[: last + 1])
        for index, group in enumerate(groups[: last + 1]):
            stage = await self._from(index, group[0])
            for instruction in group[1:]:
                await self._instruction(stage, instruction, counted=True)
            if index == last and self.options.labels:
                config = copy_config(stage.config)
                config["Labels"] = {**(config.get("Labels") or {}), **self.options.labels}
                labels = " ".join(f"{k}={json.dumps(v)}" for k, v in self.options.labels.items())
                await self._commit(stage, f"LABEL {labels}", config, line=group[0].line)
        final = self.stages[last].image
        if final is None:
            raise errors.InvalidArgument(
                "No image was generated. Is your Dockerfile empty?", reason="BUILD_EMPTY"
            )
        unused = sorted(set(self.options.build_args) - self.consumed)
        if unused:
            await self.emit(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        return final

    def _stages(self) -> list[list[Instruction]]:
        meta, groups = stages(self.dockerfile, name=self._name)
        for instruction in meta:
            self._meta_arg(instruction)
        return groups

    @property
    def _name(self) -> str:
        return posixpath.basename(self.options.dockerfile) or "Dockerfile"

    def _meta_arg(self, instruction: Instruction) -> None:
        expander = Expander(
            {k: v for k, v in self.meta_args.items() if v is not None}, self.dockerfile.escape
        )
        for name, value in self._arg_values(instruction, expander, {}):
            self.meta_args[name] = value

    def _arg_values(
        self, instruction: Instruction, expander: Expander, inherited: dict[str, str | None]
    ) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for word in split_raw(instruction.text, self.dockerfile.escape):
            name, eq, default = word.partition("=")
            if not name:
                raise DockerfileError(instruction.line, "ARG requires a name", name=self._name)
            self.consumed.add(name)
            given = self.options.build_args.get(name)
            if given is not None:
                out.append((name, given))
            elif eq:
                out.append((name, expander.word(default)))
            else:
                out.append((name, inherited.get(name)))
        if not out:
            raise DockerfileError(instruction.line, "ARG requires exactly one argument",
                                  name=self._name)  # fmt: skip
        return out

    # -- FROM --------------------------------------------------------------------------------

    async def _from(self, index: int, instruction: Instruction) -> Stage:
        await self._announce(instruction)
        try:
            stage = await self._base(index, instruction)
        except errors.EstibaError as exc:
            raise self._failed(instruction, exc) from exc
        self.stages.append(stage)
        await self.emit(f" ---> {short(stage.image)}\n")
        triggers = [str(t) for t in stage.config.get("OnBuild") or []]
        if triggers:
            stage.config = {**stage.config, "OnBuild": None}
            word = "trigger" if len(triggers) == 1 else "triggers"
            await self.emit(f"# Executing {len(triggers)} build {word}...\n")
            for text in triggers:
                for trigger in parse(text, name=self._name).instructions:
                    moved = dataclasses.replace(trigger, line=instruction.line)
                    await self._instruction(stage, moved, counted=False)
        return stage

    async def _base(self, index: int, instruction: Instruction) -> Stage:
        meta = {k: v for k, v in self.meta_args.items() if v is not None}
        words = Expander(meta, self.dockerfile.escape).words(instruction.text)
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
            raise errors.InvalidArgument("FROM requires either one or three arguments")
        name = words[2].lower() if len(words) == 3 else ""
        platform = Expander({**meta, **self._platform_args()}).word(instruction.flag("platform"))
        self._check_platform(platform, "FROM --platform")
        base = words[0]
        if base.lower() == "scratch":
            return Stage(index, name, None, {})
        for earlier in self.stages:
            if earlier.name and earlier.name == base.lower():
                image = earlier.image
                config = _container(image)
                return Stage(index, name, image, config)
        image = await self._image(base)
        return Stage(index, name, image, _container(image))

    def _check_platform(self, value: str, flag: str) -> None:
        """Only this node's platform can be built (no emulation); a variant may be left out."""
        if not value:
            return
        here = self.images.ctx.platform
        asked = parse_platform(value)
        variant_ok = not asked.variant or asked.variant == here.variant
        if (asked.os, asked.architecture) != (here.os, here.architecture) or not variant_ok:
            raise errors.InvalidArgument(
                f"{flag}={value}: only this node's platform ({here}) can be built here",
                reason="PLATFORM_UNSUPPORTED",
            )

    def _platform_args(self) -> dict[str, str]:
        here = str(self.images.ctx.platform)
        return {"BUILDPLATFORM": here, "TARGETPLATFORM": here}

    async def _image(self, name: str) -> ImageRecord:
        """A base or ``--from`` image: pulled when asked to or when the node lacks it."""
        if not self.options.pull:
            with contextlib.suppress(errors.NotFound):
                return await self.images.get(name)
        await self.emit(f"Pulling {name}\n")
        last_id = ""
        async for event in self.images.pull(name):
            last_id = event.image_id or last_id
        return await self.images.get(last_id or name)

    # -- one instruction ---------------------------------------------------------------------

    async def _announce(self, instruction: Instruction) -> None:
        self.step += 1
        await self.emit(f"Step {self.step}/{self.total} : {instruction.original}\n")

    async def _instruction(self, stage: Stage, instruction: Instruction, *, counted: bool) -> None:
        if counted:
            await self._announce(instruction)
        name = "config" if instruction.keyword in metadata.KEYWORDS else instruction.keyword
        handler = getattr(self, "_do_" + name.lower(), None)
        if handler is None:
            raise DockerfileError(
                instruction.line, f"{instruction.keyword} is not allowed here", name=self._name
            )
        try:
            await handler(stage, instruction)
        except StepFailed as exc:
            if exc.message.startswith(self._name + ":"):
                raise
            message = f"{self._name}:{instruction.line}: {exc.message}"
            raise StepFailed(message, line=exc.line, exit_code=exc.exit_code) from exc
        except errors.EstibaError as exc:
            raise self._failed(instruction, exc) from exc

    def _failed(self, instruction: Instruction, exc: errors.EstibaError) -> StepFailed:
        prefix = f"{self._name}:{instruction.line}: "
        message = exc.message
        if not message.startswith(self._name + ":"):
            message = f"{prefix}{instruction.keyword} {instruction.text[:80]}: {message}"
        return StepFailed(message, line=instruction.line)

    async def _commit(
        self,
        stage: Stage,
        created_by: str,
        config: dict[str, Any],
        *,
        line: int,
        extra: str = "",
        layer: LayerMaker | None = None,
    ) -> None:
        parent = str(stage.image.id) if stage.image is not None else "scratch"
        key = hashlib.sha256(
            json.dumps([parent, created_by, config, extra, stage.author], sort_keys=True).encode()
        ).hexdigest()
        if not self.options.no_cache:
            cached_id = await self.cache.lookup(key)
            cached = await self._record(cached_id) if cached_id else None
            if cached is not None:
                self.hits.append(key)
                stage.image, stage.config = cached, config
                await self.emit(f" ---> Using cache\n ---> {short(cached)}\n")
                return
        work = self.scratch / secrets.token_hex(6)
        work.mkdir(parents=True)
        try:
            tar, level = None, FAST_GZIP
            if layer is not None:
                tar = work / "layer.tar"
                level = await layer(tar)
            image = await committing.commit(
                self.images.ctx,
                tar,
                parent=stage.image,
                container=config,
                created_by=created_by,
                author=stage.author,
                gzip_level=level,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        await self.cache.store(key, str(image.id))
        stage.image, stage.config = image, config
        await self.emit(f" ---> {short(image)}\n")

    async def _record(self, image_id: str) -> ImageRecord | None:
        """An image by id; step images never change, so each is read once per engine."""
        found = self.memo.get(image_id)
        if found is None:
            found = await self.images.ctx.records.get(image_id)
            if found is not None:
                self.memo.put(image_id, found)
        return found

    def _expander(self, stage: Stage) -> Expander:
        return Expander(stage.env, self.dockerfile.escape)

    async def _metadata(self, stage: Stage, instruction: Instruction, config: dict[str, Any],
                        shown: str = "") -> None:  # fmt: skip
        created_by = f"/bin/sh -c #(nop)  {shown or instruction.keyword + ' ' + instruction.text}"
        await self._commit(stage, created_by, config, line=instruction.line)

    # -- instructions that only change the config --------------------------------------------

    async def _do_arg(self, stage: Stage, instruction: Instruction) -> None:
        values = self._arg_values(instruction, self._expander(stage), self.meta_args)
        stage.args.update(values)
        shown = " ".join(f"{k}={v}" if v is not None else k for k, v in values)
        await self._metadata(stage, instruction, copy_config(stage.config), "ARG " + shown)

    async def _do_config(self, stage: Stage, instruction: Instruction) -> None:
        config, shown = metadata.apply(stage, instruction, self._expander(stage))
        await self._metadata(stage, instruction, config, shown)

    async def _do_workdir(self, stage: Stage, instruction: Instruction) -> None:
        config = copy_config(stage.config)
        path = self._expander(stage).word(instruction.text.strip())
        if not path:
            raise errors.InvalidArgument("WORKDIR requires exactly one argument")
        config["WorkingDir"] = posixpath.normpath(
            posixpath.join(config.get("WorkingDir") or "/", path)
        )

        async def make(tar: Path) -> int:
            async with self._view(stage.image) as root:
                view = trees.DirTree(root)
                entry = copying.Entry(
                    trees.clean(config["WorkingDir"]), copying.new_dir(config["WorkingDir"])
                )
                await asyncio.to_thread(copying.write_layer, [entry], view, tar, int(time.time()))
            return FAST_GZIP

        exists = await self._exists(stage, config["WorkingDir"])
        created_by = f"/bin/sh -c #(nop) WORKDIR {config['WorkingDir']}"
        await self._commit(stage, created_by, config, line=instruction.line,
                           layer=None if exists else make)  # fmt: skip

    async def _exists(self, stage: Stage, path: str) -> bool:
        if stage.image is None or not stage.image.layers:
            return False
        async with self._view(stage.image) as root:
            view = trees.DirTree(root)
            info = view.lstat(trees.resolve(view, trees.clean(path)))
        return info is not None and info.isdir()

    # -- RUN ---------------------------------------------------------------------------------

    async def _do_run(self, stage: Stage, instruction: Instruction) -> None:
        for flag, _ in instruction.flags:
            if flag != "network":
                raise errors.InvalidArgument(f"the --{flag} option requires BuildKit")
        network = {"": "", "default": "", "none": "none", "host": "host"}.get(
            instruction.flag("network")
        )
        if network is None:
            raise errors.InvalidArgument(f"invalid --network={instruction.flag('network')}")
        args = settings.run_args(instruction, stage.shell)
        build_env = [f"{k}={v}" for k, v in sorted(stage.args.items()) if v is not None]
        created_by = " ".join(args)
        if build_env:
            created_by = f"|{len(build_env)} {' '.join(build_env)} {created_by}"

        async def make(tar: Path) -> int:
            await self._run_container(stage, instruction, args, build_env, network, tar)
            return FAST_GZIP

        await self._commit(
            stage, created_by, copy_config(stage.config), line=instruction.line, layer=make
        )

    async def _run_container(
        self,
        stage: Stage,
        instruction: Instruction,
        args: list[str],
        build_env: list[str],
        network: str,
        tar: Path,
    ) -> None:
        if stage.image is None:
            raise errors.InvalidArgument("RUN needs a command to run, and FROM scratch has none")
        env = {item.partition("=")[0]: item for item in build_env}
        env.update({item.partition("=")[0]: item for item in stage.config.get("Env") or []})
        request = running.RunRequest(
            image_id=str(stage.image.id),
            args=tuple(args),
            env=tuple(env.values()),
            working_dir=str(stage.config.get("WorkingDir") or ""),
            user=str(stage.config.get("User") or ""),
            network=network,
        )
        lowers = [self.images.ctx.layers.path(x.chain_id) for x in stage.image.layers]
        step = running.Step(self.containers, self.emit, self.options)
        code = await step.run(request, lowers, tar)
        if code != 0:
            raise StepFailed(
                f"The command '{' '.join(args)}' returned a non-zero code: {code}",
                line=instruction.line,
                exit_code=code,
            )

    # -- COPY and ADD --------------------------------------------------------------------------

    async def _do_copy(self, stage: Stage, instruction: Instruction) -> None:
        await self._copy(stage, instruction, add=False)

    async def _do_add(self, stage: Stage, instruction: Instruction) -> None:
        await self._copy(stage, instruction, add=True)

    async def _copy(self, stage: Stage, instruction: Instruction, *, add: bool) -> None:
        allowed = {"from", "chown", "chmod", "link"} | (
            {"checksum", "keep-git-dir"} if add else set()
        )
        for flag, _ in instruction.flags:
            if flag not in allowed:
                raise errors.InvalidArgument(f"unknown flag: --{flag}")
        expander = self._expander(stage)
        listed = instruction.exec_form
        words = [expander.word(w) for w in listed] if listed is not None else expander.words(
            instruction.text)  # fmt: skip
        if len(words) < 2:
            raise errors.InvalidArgument(f"{instruction.keyword} requires at least two arguments")
        names, dest = words[:-1], words[-1]
        chmod = instruction.flag("chmod")
        if chmod and not all(ch in "01234567" for ch in chmod):
            raise errors.InvalidArgument(f"invalid chmod parameter {chmod!r}")
        source_from = expander.word(instruction.flag("from"))
        if source_from and add:
            raise errors.InvalidArgument("ADD does not support --from")
        async with contextlib.AsyncExitStack() as stack:
            tree: trees.Tree = self.context
            if source_from:
                image = await self._source_image(source_from)
                tree = trees.DirTree(await stack.enter_async_context(self._view(image)))
            sources = await fetch.sources(instruction, expander, tree, names, add=add)
            digest = copying.sources_key(sources)
            chown = expander.word(instruction.flag("chown"))
            shown = f"{instruction.keyword} {' '.join(instruction.text.split()[:-1])} in {dest}"
            created_by = f"/bin/sh -c #(nop) {shown} "
            extra = json.dumps([digest, chown, chmod, dest, source_from])

            async def make(tar: Path) -> int:
                async with self._view(stage.image) as root:
                    view = trees.DirTree(root)
                    uid, gid = copying.owner(root, chown)
                    options = copying.Options(uid, gid, int(chmod, 8) if chmod else None, add)
                    workdir = str(stage.config.get("WorkingDir") or "/")
                    entries = await asyncio.to_thread(
                        copying.plan, sources, dest, workdir, view, options
                    )
                    await asyncio.to_thread(
                        copying.write_layer, entries, view, tar, int(time.time())
                    )
                return await asyncio.to_thread(copying.gzip_level, entries)

            await self._commit(stage, created_by, copy_config(stage.config), line=instruction.line,
                               extra=extra, layer=make)  # fmt: skip

    async def _source_image(self, ref: str) -> ImageRecord | None:
        for stage in self.stages:
            if stage.name == ref.lower() or str(stage.index) == ref:
                return stage.image
        if ref.isdigit():
            raise errors.InvalidArgument(f"invalid from flag value {ref}: refers to a later stage")
        return await self._image(ref)

    def _view(self, image: ImageRecord | None) -> contextlib.AbstractAsyncContextManager[Path]:
        layers = [self.images.ctx.layers.path(x.chain_id) for x in (image.layers if image else ())]
        return rootview.mounted(layers, self.scratch)


def _container(image: ImageRecord | None) -> dict[str, Any]:
    return copy_config(imageconfig.parse(image.config).container) if image is not None else {}
