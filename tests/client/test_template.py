"""The Go-template subset behind ``--format``: what docker users type must mean the same."""

from __future__ import annotations

from typing import Any

import pytest

from client.cli.output_rows import Labels
from client.cli.template import Template, TemplateError

CONTAINER: dict[str, Any] = {
    "Id": "abc123",
    "Name": "/web",
    "Config": {"Image": "busybox", "Labels": {"a.b": "c", "k": "v"}, "Env": ["A=1", "B=2"]},
    "State": {"Running": True, "ExitCode": 0, "Health": None},
    "Mounts": [{"Name": "data", "Source": "/x"}, {"Name": "", "Source": "/y"}],
    "NetworkSettings": {"Networks": {"front": {"IPAddress": "10.1.0.2"}, "back": {}}},
    "Label": lambda key: {"k": "v"}.get(key, ""),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{.Name}}", "/web"),
        ("{{.Config.Image}}", "busybox"),
        ("id={{.Id}}!", "id=abc123!"),
        ('{{index .Config.Labels "a.b"}}', "c"),
        ('{{index .Config.Labels "missing"}}', ""),
        ("{{index .Config.Env 1}}", "B=2"),
        ("{{range .Mounts}}{{.Source}} {{end}}", "/x /y "),
        ("{{range $i, $m := .Mounts}}{{$i}}:{{$m.Source}},{{end}}", "0:/x,1:/y,"),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a.b=c;k=v;"),
        ("{{range $net, $_ := .NetworkSettings.Networks}}{{$net}} {{end}}", "back front "),
        ("{{range .Nothing}}x{{else}}none{{end}}", "none"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if not .State.Running}}a{{else if .State.Running}}b{{else}}c{{end}}.", "b."),
        ("{{if eq .State.ExitCode 0}}ok{{end}}", "ok"),
        ('{{if and .State.Running (eq .Config.Image "busybox")}}yes{{end}}', "yes"),
        ("{{with .Config}}{{.Image}}{{end}}", "busybox"),
        ("{{with .State.Health}}{{.Status}}{{else}}no check{{end}}", "no check"),
        ("{{$img := .Config.Image}}{{$img}}", "busybox"),
        ("{{range .Mounts}}{{$.Name}}{{end}}", "/web/web"),
        ('{{.Label "k"}}|{{.Label "none"}}', "v|"),
        ("{{json .Config.Labels}}", '{"a.b":"c","k":"v"}'),
        ("{{.Config.Image | upper}}", "BUSYBOX"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ('{{split "a:b" ":"}}', "[a b]"),
        ("{{len .Mounts}}", "2"),
        ('{{printf "%-8s|" .Config.Image}}', "busybox |"),
        ('{{len .Mounts | printf "%d mounts"}}', "2 mounts"),
        ("{{(index .Mounts 0).Name}}", "data"),
        ("{{.State}}", "map[ExitCode:0 Health:<nil> Running:true]"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Nope}}", "<no value>"),
        ("{{.State.Health}}", "<no value>"),
        ("{{.State.Running}}", "true"),
        ('a {{- " b " -}} c', "a b c"),
        ("{{/* a comment */}}x", "x"),
        ("{{`raw`}}", "raw"),
        ("{{truncate .Id 3}}", "abc"),
        ('{{title "hello world"}}', "Hello World"),
    ],
)
def test_renders_like_go(text: str, expected: str) -> None:
    assert Template(text).render(CONTAINER) == expected


def test_json_of_a_row_leaves_its_methods_out() -> None:
    assert Template("{{json .}}").render({"ID": "x", "Label": lambda k: k}) == '{"ID":"x"}'


def test_labels_are_text_that_index_can_look_into() -> None:
    row = {"Labels": Labels({"b": "2", "a": "1"})}
    assert Template("{{.Labels}}").render(row) == "a=1,b=2"
    assert Template('{{index .Labels "b"}}').render(row) == "2"


def test_floats_from_json_print_as_integers() -> None:
    assert Template("{{.Size}}").render({"Size": 1700000000.0}) == "1700000000"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Name", "unclosed action"),
        ("{{if .A}}x", "missing {{end}}"),
        ("x{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{nosuch .A}}", 'function "nosuch" not defined'),
        ("{{.A | }}", "missing value"),
        ("{{(index .A 0}}", "unclosed parenthesis"),
    ],
)
def test_bad_templates_fail_to_parse(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("|", r"\|")):
        Template(text).render({"A": [1]})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Config.Image.X}}", "can't evaluate field X"),
        ("{{index .Mounts 5}}", "out of range"),
        ("{{$nope}}", "undefined variable"),
        ("{{.Name 1}}", "not a method"),
        ("{{range .Name}}{{end}}", "range can't iterate"),
    ],
)
def test_templates_that_do_not_apply_fail_to_render(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        Template(text).render(CONTAINER)
