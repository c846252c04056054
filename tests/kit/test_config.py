from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.gateway.config import GatewayConfig
from services.kit import config
from services.kit.settings import Common
from services.registry.config import RegistryConfig


@dataclasses.dataclass(frozen=True)
class Sample(Common):
    port: int = 1
    ratio: float = 0.5
    enabled: bool = False
    names: tuple[str, ...] = ()
    path: Path = Path("/x")


def test_defaults_without_file_or_env() -> None:
    cfg = config.load(Sample, "sample", env={})
    assert cfg == Sample()


def test_file_then_env_precedence(tmp_path: Path) -> None:
    f = tmp_path / "estiba.toml"
    f.write_text('root = "/srv/e"\n[sample]\nport = 7\nenabled = true\nnames = ["a", "b"]\n')
    cfg = config.load(
        Sample, "sample", path=f, env={"ESTIBA_SAMPLE_PORT": "9", "ESTIBA_RUN_DIR": "/run/x"}
    )
    assert cfg.root == Path("/srv/e")
    assert cfg.port == 9  # the environment wins over the file
    assert cfg.enabled is True
    assert cfg.names == ("a", "b")
    assert cfg.run_dir == Path("/run/x")


def test_service_specific_env_beats_shared_env() -> None:
    env = {"ESTIBA_ROOT": "/a", "ESTIBA_SAMPLE_ROOT": "/b"}
    assert config.load(Sample, "sample", env=env).root == Path("/b")


def test_config_file_from_environment(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[sample]\nratio = 2.5\n")
    assert config.load(Sample, "sample", env={"ESTIBA_CONFIG": str(f)}).ratio == 2.5


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"ESTIBA_SAMPLE_PORT": "eighty"}, ["ESTIBA_SAMPLE_PORT", "integer"]),
        ({"ESTIBA_SAMPLE_ENABLED": "maybe"}, ["ESTIBA_SAMPLE_ENABLED", "boolean"]),
        ({"ESTIBA_ROOT": "relative/dir"}, ["root", "absolute"]),
        ({"ESTIBA_LOG_LEVEL": "loud"}, ["log_level"]),
    ],
)
def test_bad_values_name_the_key(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.load(Sample, "sample", env=env)
    for word in words:
        assert word in str(info.value)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[sample]\nprot = 1\n")
    with pytest.raises(config.ConfigError, match="unknown setting 'prot'"):
        config.load(Sample, "sample", path=f, env={})


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(Sample, "sample", path=tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[sample\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(Sample, "sample", path=bad, env={})


def test_service_validation() -> None:
    with pytest.raises(config.ConfigError, match="http_addr"):
        config.load(RegistryConfig, "registry", env={"ESTIBA_REGISTRY_HTTP_ADDR": "nowhere"})
    with pytest.raises(config.ConfigError, match="listen"):
        config.load(GatewayConfig, "gateway", env={"ESTIBA_GATEWAY_LISTEN": "http://x"})
    cfg = config.load(GatewayConfig, "gateway", env={"ESTIBA_RUN_DIR": "/run/q"})
    assert cfg.listen_url == "unix:///run/q/estiba.sock"
    assert cfg.target("engine") == "unix:///run/q/engine.sock"
