"""``--format`` and ``-q`` against a running estiba: the same format string gives the same text
through estiba's CLI as through the stock docker CLI, both talking to the same estiba."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import EstibaInstance

pytestmark = pytest.mark.e2e

# fields that move with the clock between the two commands
MOVING = ("RunningFor", "Status", "CreatedSince", "Platform")


@pytest.fixture(scope="module")
def inst(estiba_instance: EstibaInstance) -> EstibaInstance:
    estiba_instance.estiba(
        "run", "-d", "--name", "fmt-web", "-l", "tier=front", "-p", "127.0.0.1:0:80",
        "-v", "fmt-data:/srv", "busybox", "httpd", "-f", "-p", "80",
    )  # fmt: skip
    estiba_instance.estiba("run", "--name", "fmt-done", "busybox", "true")
    estiba_instance.estiba("network", "create", "fmt-net", "--label", "team=a")
    return estiba_instance


def _rows(text: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines()]
    return [{k: v for k, v in r.items() if k not in MOVING} for r in rows]


@pytest.mark.parametrize("listing", [["ps", "-a"], ["images"], ["network", "ls"], ["volume", "ls"]])
def test_json_rows_match_dockers(inst: EstibaInstance, listing: list[str]) -> None:
    ours = _rows(inst.estiba(*listing, "--format", "json").stdout)
    theirs = _rows(inst.docker(*listing, "--format", "json").stdout)
    assert ours == theirs
    assert ours


@pytest.mark.parametrize(
    ("listing", "fmt"),
    [
        (["ps", "-a"], '{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Ports}} '
                       '{{.Labels}} {{.Label "tier"}} {{.Networks}} {{.Mounts}} {{.CreatedAt}}'),
        (["ps", "-a"], r"table {{.ID}}\t{{.Names}}\t{{.LocalVolumes}}"),
        (["images"], r"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}\t{{.Digest}}"),
        (["network", "ls"], r"table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Label `team`}}"),
        (["volume", "ls"], r"table {{.Name}}\t{{.Driver}}\t{{.Mountpoint}}"),
        (["inspect"], '{{.Name}} {{.Config.Image}} {{index .Config.Labels "tier"}} '
                      "{{range .Mounts}}{{.Name}}:{{.Destination}}{{end}} "
                      "{{range $p, $b := .NetworkSettings.Ports}}{{$p}}{{end}} "
                      "{{if .State.Running}}up{{else}}down{{end}} {{json .Config.Cmd}}"),
        (["inspect"], "{{.State.Status}} {{.HostConfig.NetworkMode}} {{len .Mounts}}"),
    ],
)  # fmt: skip
def test_templates_print_what_docker_prints(
    inst: EstibaInstance, listing: list[str], fmt: str
) -> None:
    targets = ["fmt-web", "fmt-done"] if listing == ["inspect"] else []
    ours = inst.estiba(*listing, "--format", fmt, *targets).stdout
    theirs = inst.docker(*listing, "--format", fmt, *targets).stdout
    assert ours == theirs
    assert ours.strip()


def test_inspect_finds_every_kind(inst: EstibaInstance) -> None:
    names = ["fmt-web", "busybox", "fmt-net", "fmt-data"]
    ours = inst.estiba("inspect", "-f", "{{if .Id}}{{.Id}}{{else}}{{.Name}}{{end}}", *names)
    assert len(ours.stdout.split()) == 4
    whole = json.loads(inst.estiba("inspect", *names).stdout)
    assert [bool(x) for x in whole] == [True] * 4
    one_line = inst.estiba("inspect", "--format", "json", "--type", "volume", "fmt-data")
    assert json.loads(one_line.stdout)["Name"] == "fmt-data"
    missing = inst.estiba("inspect", "--type", "network", "fmt-web", check=False)
    assert missing.returncode == 1
    assert "No such network: fmt-web" in missing.stderr


def test_quiet_lists_ids_or_names(inst: EstibaInstance) -> None:
    for listing in (["ps", "-aq"], ["images", "-q"], ["network", "ls", "-q"]):
        assert inst.estiba(*listing).stdout == inst.docker(*listing).stdout
    assert inst.estiba("volume", "ls", "-q").stdout.split() == ["fmt-data"]
    assert (
        inst.estiba("history", "-q", "busybox").stdout
        == inst.docker("history", "-q", "busybox").stdout
    )
    latest = inst.estiba("ps", "-l", "--format", "{{.Names}}").stdout
    assert latest == "fmt-done\n"


def test_version_and_info_templates(inst: EstibaInstance) -> None:
    assert inst.estiba("version", "-f", "{{.Server.ApiVersion}}").stdout == "1.44\n"
    both = json.loads(inst.estiba("version", "--format", "json").stdout)
    assert both["Client"]["Version"]
    assert both["Server"]["ApiVersion"] == "1.44"
    info = inst.estiba("info", "--format", "{{.Containers}} {{.ContainersRunning}}")
    assert info.stdout.split() == ["2", "1"]


def test_a_bad_template_is_one_line_and_125(inst: EstibaInstance) -> None:
    bad = inst.estiba("ps", "--format", "{{.Names", check=False)
    assert bad.returncode == 125
    assert bad.stderr.count("\n") == 1
    assert "template parsing error" in bad.stderr
    wrong = inst.estiba("inspect", "-f", "{{.Config.Image.Nope}}", "fmt-web", check=False)
    assert wrong.returncode == 125
    assert "Traceback" not in wrong.stderr
    assert "can't evaluate field Nope" in wrong.stderr


@pytest.mark.parametrize(
    "argv",
    [["ps", "-a"], ["ps", "-a", "--no-trunc"], ["ps", "-aq"], ["ps", "-s"], ["images"],
     ["images", "-a", "--digests"], ["images", "busybox"], ["images", "-q"]],
)  # fmt: skip
def test_default_tables_are_dockers(inst: EstibaInstance, argv: list[str]) -> None:
    """The everyday listings, which estiba's CLI reads without the full parser and prints
    without the template engine, print what docker prints, and the same columns as through
    the full parser (a few tries: the ages move with the clock, and the widths with them)."""
    for _ in range(3):
        ours = inst.estiba(*argv).stdout
        if ours == inst.docker(*argv).stdout:
            break
    else:
        assert ours == inst.docker(*argv).stdout
    assert ours.strip()
    full = inst.estiba(*argv[:1], "--format", "table", *argv[1:]).stdout
    assert full.splitlines()[0].split() == ours.splitlines()[0].split()
