"""deploy/ and docker-compose.yml: the compose file, the configuration files and the units agree
with each other and with the code they start."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.kit import config as kconfig

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERVICES = ("registry", "engine", "netd", "gateway")
CONFIG_CLASSES = {
    "registry": "services.registry.config:RegistryConfig",
    "engine": "services.engine.config:EngineConfig",
    "netd": "services.netd.config:NetdConfig",
    "gateway": "services.gateway.config:GatewayConfig",
}
HEALTHCHECK = ["python", "-m", "services.kit.healthcheck"]
COMPOSE_CONFIG = "/etc/estiba/estiba.toml"
TOMLS = sorted(DEPLOY.rglob("*.toml"))
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def config_class(service: str) -> type[Any]:
    module, _, name = CONFIG_CLASSES[service].partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def load(service: str, path: Path) -> Any:
    """The service's configuration from ``path`` alone, whatever the caller's environment."""
    return kconfig.load(config_class(service), service, path=path, env={})


def module_exists(name: str) -> bool:
    """True if ``python -m name`` can run: a module, or a package with ``__main__``."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return False
    if spec.submodule_search_locations is not None:
        return importlib.util.find_spec(f"{name}.__main__") is not None
    return True


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_the_four_services(services: dict[str, dict[str, Any]]) -> None:
    assert sorted(services) == sorted(SERVICES)


def test_one_image_from_one_build(services: dict[str, dict[str, Any]]) -> None:
    images = {svc["image"] for svc in services.values()}
    builds = {repr(sorted(svc["build"].items())) for svc in services.values()}
    assert len(images) == 1
    assert len(builds) == 1
    build = next(iter(services.values()))["build"]
    assert (REPO / build["context"] / build["dockerfile"]).is_file()


def test_each_runs_its_service_module(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert svc["command"] == [
            "python",
            "-m",
            f"services.{name}",
            "--config",
            COMPOSE_CONFIG,
        ]
        assert module_exists(f"services.{name}"), name


def _mounts(svc: dict[str, Any]) -> list[dict[str, Any]]:
    """The service's volumes in the long syntax."""
    mounts = []
    for item in svc.get("volumes", []):
        if isinstance(item, str):
            source, target, *_ = item.split(":")
            kind = "bind" if source.startswith((".", "/")) else "volume"
            mounts.append({"type": kind, "source": source, "target": target})
        else:
            mounts.append(item)
    return mounts


def test_one_state_volume_each(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose["volumes"])
    used = []
    for name, svc in services.items():
        volumes = [m for m in _mounts(svc) if m["type"] == "volume"]
        assert len(volumes) == 1, name
        assert volumes[0]["source"] in declared
        assert volumes[0]["target"] == f"/var/lib/estiba/{name}"
        used.append(volumes[0]["source"])
    assert sorted(used) == sorted(declared)


def test_configuration_is_mounted(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        binds = {m["target"]: m for m in _mounts(svc) if m["type"] == "bind"}
        config = binds[COMPOSE_CONFIG]
        assert (REPO / config["source"]).resolve() == DEPLOY / "config" / "estiba.toml", name
        assert config.get("read_only") is True
        assert binds["/run/estiba"]["source"] == "/run/estiba"


def test_engine_and_netd_work_on_the_host(services: dict[str, dict[str, Any]]) -> None:
    for name in ("engine", "netd"):
        svc = services[name]
        assert svc["privileged"] is True, name
        assert svc["network_mode"] == "host", name
        assert svc["pid"] == "host", name
        run_dir = next(m for m in _mounts(svc) if m["target"] == "/run/estiba")
        assert run_dir["bind"]["propagation"] == "rshared", name
    for name in ("registry", "gateway"):
        svc = services[name]
        assert not svc.get("privileged", False), name
        assert "network_mode" not in svc, name
        assert "pid" not in svc, name


def test_healthchecks_ask_each_service(services: dict[str, dict[str, Any]]) -> None:
    path = DEPLOY / "config" / "estiba.toml"
    for name, svc in services.items():
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD"
        assert test[1:4] == HEALTHCHECK, name
        cfg = load(name, path)
        if name == "gateway":
            assert test[4:] == ["--ping", cfg.listen_url]
        else:
            assert test[4:] == [cfg.grpc_target], name
    assert module_exists("services.kit.healthcheck")


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    def healthy_deps(name: str) -> set[str]:
        deps = services[name].get("depends_on", {})
        return {d for d, how in deps.items() if how["condition"] == "service_healthy"}

    assert healthy_deps("gateway") == {"registry", "engine", "netd"}
    assert healthy_deps("engine") == {"netd"}


def test_registry_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    cfg = load("registry", DEPLOY / "config" / "estiba.toml")
    port = cfg.http_addr.rpartition(":")[2]
    assert services["registry"]["ports"] == [f"127.0.0.1:5000:{port}"]


# ---------------------------------------------------------------------------------------------
# configuration files


@pytest.mark.parametrize("path", TOMLS, ids=[str(p.relative_to(DEPLOY)) for p in TOMLS])
def test_configuration_file_loads_for_every_service(path: Path) -> None:
    tables = {k for k, v in tomllib.loads(path.read_text()).items() if isinstance(v, dict)}
    assert tables <= set(SERVICES), f"{path}: tables no service reads: {tables - set(SERVICES)}"
    for service in SERVICES:
        cfg = load(service, path)
        assert dataclasses.is_dataclass(cfg)
        assert isinstance(cfg, config_class(service))


def test_the_configuration_files_were_found() -> None:
    names = {str(p.relative_to(DEPLOY)) for p in TOMLS}
    assert {"config/estiba.toml", "systemd/estiba.toml"} <= names
    assert {"lab/lab-a/estiba.toml", "lab/lab-b/estiba.toml"} <= names


def test_the_image_ships_the_compose_configuration() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), source
    assert f"deploy/config/estiba.toml {COMPOSE_CONFIG}" in dockerfile


# ---------------------------------------------------------------------------------------------
# systemd units


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and keys, every value of a repeated key kept in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_env(unit: dict[str, dict[str, list[str]]]) -> dict[str, str]:
    env = {}
    for value in unit["Service"].get("Environment", []):
        for pair in value.split():
            key, _, val = pair.partition("=")
            env[key] = val
    return env


def test_one_unit_per_service() -> None:
    assert sorted(p.name for p in UNITS) == sorted(f"estiba-{s}.service" for s in SERVICES)
    target = parse_unit(DEPLOY / "systemd" / "estiba.target")
    wants = " ".join(target["Unit"]["Wants"]).split()
    assert sorted(wants) == sorted(p.name for p in UNITS)


@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_unit_starts_an_existing_module(path: Path) -> None:
    service = path.stem.removeprefix("estiba-")
    unit = parse_unit(path)["Service"]
    assert unit["Type"] == ["exec"]
    assert unit["Restart"] == ["on-failure"]
    (start,) = unit["ExecStart"]
    argv = start.split()
    assert argv[0].endswith("/bin/python")
    assert argv[1:3] == ["-m", f"services.{service}"]
    assert module_exists(argv[2])
    assert argv[3:] == ["--config", "/etc/estiba/estiba.toml"]
    (post,) = unit["ExecStartPost"]
    argv = post.split()
    assert argv[1:3] == ["-m", "services.kit.healthcheck"]
    assert module_exists(argv[2])


@pytest.mark.parametrize("path", UNITS, ids=[p.stem for p in UNITS])
def test_unit_health_check_matches_the_configuration(path: Path) -> None:
    service = path.stem.removeprefix("estiba-")
    unit = parse_unit(path)
    target = unit_env(unit)["HEALTHCHECK"]
    cfg = load(service, DEPLOY / "systemd" / "estiba.toml")
    assert target == (cfg.listen_url if service == "gateway" else cfg.grpc_target)
    assert ("--ping" in unit["Service"]["ExecStartPost"][0]) == (service == "gateway")


def test_unit_order() -> None:
    def unit(name: str) -> dict[str, list[str]]:
        return parse_unit(DEPLOY / "systemd" / f"estiba-{name}.service")["Unit"]

    def after(name: str) -> set[str]:
        return set(" ".join(unit(name).get("After", [])).split())

    assert "estiba-netd.service" in after("engine")
    assert {f"estiba-{s}.service" for s in ("registry", "engine", "netd")} <= after("gateway")
    for name in SERVICES:
        assert unit(name)["PartOf"] == ["estiba.target"]


def test_engine_unit_leaves_containers_running() -> None:
    engine = parse_unit(DEPLOY / "systemd" / "estiba-engine.service")["Service"]
    assert engine["KillMode"] == ["process"]
    for name in ("registry", "netd", "gateway"):
        other = parse_unit(DEPLOY / "systemd" / f"estiba-{name}.service")["Service"]
        assert "KillMode" not in other


def test_lab_drop_ins_match_the_lab_configuration() -> None:
    lab_b = DEPLOY / "lab" / "lab-b"
    for service in ("engine", "netd"):
        drop_in = parse_unit(lab_b / f"estiba-{service}.service.d" / "lab.conf")
        assert unit_env(drop_in)["HEALTHCHECK"] == load(service, lab_b / "estiba.toml").grpc_target
    gateway = load("gateway", DEPLOY / "lab" / "lab-a" / "estiba.toml")
    engine = load("engine", lab_b / "estiba.toml")
    netd = load("netd", lab_b / "estiba.toml")
    local, remote = gateway.node_specs()
    assert (local.name, remote.name) == ("lab-a", "lab-b")
    assert local.engine.startswith("unix://")
    assert local.netd.startswith("unix://")
    assert remote.engine.rpartition(":")[2] == engine.grpc_target.rpartition(":")[2]
    assert remote.netd.rpartition(":")[2] == netd.grpc_target.rpartition(":")[2]
    assert engine.netd == netd.grpc_listen


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own check, with the units' interpreter replaced by this one."""
    for path in [*UNITS, DEPLOY / "systemd" / "estiba.target"]:
        text = re.sub(r"/opt/estiba/venv/bin/python", sys.executable, path.read_text())
        (tmp_path / path.name).write_text(text)
    files = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in result.stderr.splitlines()
        if str(tmp_path) in line  # only what concerns our files, not the host's units
    ]
    assert result.returncode == 0, result.stderr
    assert problems == []
