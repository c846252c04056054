"""The gateway's ``nodes`` setting: its default, TOML and environment forms, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.config import GatewayConfig, NodeSpec
from services.kit import config as kconfig


def load(env: dict[str, str], path: Path | None = None) -> GatewayConfig:
    return kconfig.load(GatewayConfig, "gateway", path=path, env=env)


def test_default_is_the_local_node_named_after_node_name() -> None:
    config = load({"ESTIBA_NODE_NAME": "here", "ESTIBA_RUN_DIR": "/r"})
    assert config.node_specs() == [NodeSpec("here", "unix:///r/engine.sock", "unix:///r/netd.sock")]


def test_nodes_from_toml_and_from_the_environment(tmp_path: Path) -> None:
    toml = tmp_path / "estiba.toml"
    toml.write_text(
        'run_dir = "/r"\n[gateway]\nnodes = ["n1", "n2 engine=10.0.0.2:7001 netd=10.0.0.2:7002",'
        ' "n3 netd=unix:///x/netd.sock"]\n'
    )
    assert load({}, toml).node_specs() == [
        NodeSpec("n1", "unix:///r/engine.sock", "unix:///r/netd.sock"),
        NodeSpec("n2", "10.0.0.2:7001", "10.0.0.2:7002"),
        NodeSpec("n3", "unix:///r/engine.sock", "unix:///x/netd.sock"),
    ]
    env = {"ESTIBA_GATEWAY_NODES": "a engine=127.0.0.1:1 netd=127.0.0.1:2, b engine=h:3 netd=h:4"}
    assert [s.name for s in load(env, toml).node_specs()] == ["a", "b"]  # the environment wins
    assert load(env, toml).node_specs()[1] == NodeSpec("b", "h:3", "h:4")


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("n1, n2 engine=nowhere", "nodes[1]: engine must be unix:///PATH or HOST:PORT"),
        ("n1, n1", "nodes[1]: the node name 'n1' is given twice"),
        ("-x", "nodes[0]: '-x' is not a node name"),
        ("n1 registry=h:1", "nodes[0]: 'registry=h:1' is not engine=TARGET or netd=TARGET"),
        ("n1 engine=h:1 engine=h:2", "nodes[0]: 'engine=h:2' is not engine=TARGET"),
    ],
)
def test_a_bad_node_entry_is_one_line_naming_it(entry: str, words: str) -> None:
    with pytest.raises(kconfig.ConfigError) as info:
        load({"ESTIBA_GATEWAY_NODES": entry})
    message = str(info.value)
    assert words in message, message
    assert "\n" not in message
