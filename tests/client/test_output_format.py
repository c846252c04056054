"""Listings and inspect under ``--format``: docker's rows, headers, tables and JSON."""

from __future__ import annotations

import json
import time

import pytest

from client.cli import columns, output_format, output_rows
from client.errors import ClientError

NOW = time.time()
SUMMARY = {
    "Id": "2dea9505ff9687a52b0c527536cba280e6f6730b2d435be2bbfb61ed28fbf4da",
    "Names": ["/web"],
    "Image": "busybox",
    "Command": "httpd -f -p 80 -h /srv/www/and/more",
    "Created": int(NOW) - 120,
    "Ports": [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ],
    "Labels": {"tier": "front", "a": "1"},
    "State": "running",
    "Status": "Up 2 minutes",
    "NetworkSettings": {"Networks": {"front": {}, "bridge": {}}},
    "Mounts": [{"Type": "volume", "Name": "data", "Source": "/var/lib/x"}],
}


def test_container_row_has_dockers_fields_and_text() -> None:
    row = output_rows.container(SUMMARY)
    assert row["ID"] == "2dea9505ff96"
    assert row["Names"] == "web"
    assert row["Command"] == '"httpd -f -p 80 -h /…"'
    assert row["Ports"] == "0.0.0.0:8080->80/tcp, 53/udp"
    assert row["RunningFor"] == "2 minutes ago"
    assert row["Networks"] == "bridge,front"
    assert row["Mounts"] == "data"
    assert row["LocalVolumes"] == "1"
    assert row["Labels"] == "a=1,tier=front"
    assert row["Label"]("tier") == "front"
    assert output_rows.container(SUMMARY, no_trunc=True)["ID"] == SUMMARY["Id"]


def test_image_rows_one_per_tag() -> None:
    image = {
        "Id": "sha256:f9bd081c9283a554e506d750f4a1dd53ad5f006ad81ba72baa9bf76540af8f95",
        "RepoTags": ["busybox:latest", "127.0.0.1:5000/bb:1"],
        "RepoDigests": ["127.0.0.1:5000/bb@sha256:aa"],
        "Created": int(NOW) - 3 * 86400,
        "Size": 1_980_000,
        "Containers": -1,
    }
    rows = output_rows.images(image)
    assert [(r["Repository"], r["Tag"], r["Digest"]) for r in rows] == [
        ("busybox", "latest", "<none>"),
        ("127.0.0.1:5000/bb", "1", "sha256:aa"),
    ]
    assert rows[0]["ID"] == "f9bd081c9283"
    assert rows[0]["Size"] == "1.98MB"
    assert rows[0]["CreatedSince"] == "3 days ago"
    assert rows[0]["Containers"] == "N/A"
    untagged = output_rows.images({**image, "RepoTags": [], "RepoDigests": []})
    assert [(r["Repository"], r["Tag"]) for r in untagged] == [("<none>", "<none>")]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (61, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (3 * 365 * 86400, "3 years"),
    ],
)
def test_human_duration_matches_go_units(seconds: float, words: str) -> None:
    assert output_rows.human_duration(seconds) == words


def test_human_size_is_decimal_with_three_digits() -> None:
    assert output_rows.human_size(0) == "0B"
    assert output_rows.human_size(999) == "999B"
    assert output_rows.human_size(12_345) == "12.3kB"
    assert output_rows.human_size(4_260_000) == "4.26MB"


def test_default_table_and_custom_table(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [output_rows.container(SUMMARY)]
    output_format.rows("", rows, output_rows.DEFAULT_PS, {"ID": "CONTAINER ID"})
    header, line = capsys.readouterr().out.splitlines()
    assert header.split("   ")[0] == "CONTAINER ID"
    assert "PORTS" in header
    assert "NAMES" in header
    assert line.startswith("2dea9505ff96   busybox")
    assert line.endswith("web")
    # what a user types in a shell: a literal backslash-t
    output_format.rows(r"table {{.Names}}\t{{.RunningFor}}\t{{.Label `tier`}}", rows, "")
    assert capsys.readouterr().out.splitlines() == [
        "NAMES     CREATED         tier",
        "web       2 minutes ago   front",
    ]


def test_plain_template_has_no_header(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [output_rows.container(SUMMARY)]
    output_format.rows("{{.Names}}:{{.State}}", rows, output_rows.DEFAULT_PS)
    assert capsys.readouterr().out == "web:running\n"


def test_json_is_one_object_a_line_of_strings(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [output_rows.container(SUMMARY), output_rows.container(SUMMARY)]
    output_format.rows("json", rows, output_rows.DEFAULT_PS)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["Names"] == "web"
    assert first["Labels"] == "a=1,tier=front"
    assert all(isinstance(v, str) for v in first.values())
    assert "Label" not in first


def test_inspect_formats(capsys: pytest.CaptureFixture[str]) -> None:
    found = [{"Id": "a", "Config": {"Image": "busybox"}}, {"Id": "b", "Config": {"Image": "x"}}]
    output_format.objects("", found)
    assert json.loads(capsys.readouterr().out) == found
    output_format.objects("json", found)
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()] == found
    output_format.objects("{{.Id}}={{.Config.Image}}", found)
    assert capsys.readouterr().out == "a=busybox\nb=x\n"


def test_bad_format_is_a_one_line_client_error() -> None:
    with pytest.raises(ClientError, match="template parsing error"):
        output_format.rows("{{.Names", [], "")
    with pytest.raises(ClientError, match="template: can't evaluate field"):
        output_format.objects("{{.Id.X}}", [{"Id": "a"}])


@pytest.mark.parametrize(
    "fmt",
    [output_rows.DEFAULT_PS, output_rows.DEFAULT_PS + "\t{{.Size}}",
     "table {{.ID}}\t{{.Names}}\t{{.LocalVolumes}}\t{{.Labels}}\t{{.Networks}}\t{{.Mounts}}"],
)  # fmt: skip
def test_plain_tables_print_what_the_template_prints(
    fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [output_rows.container(SUMMARY), output_rows.container({**SUMMARY, "Names": []})]
    output_format.rows(fmt, rows, output_rows.DEFAULT_PS, {"ID": "CONTAINER ID"})
    plain = capsys.readouterr().out
    monkeypatch.setattr(columns, "plain_fields", lambda body: None)
    output_format.rows(fmt, rows, output_rows.DEFAULT_PS, {"ID": "CONTAINER ID"})
    assert plain == capsys.readouterr().out
    assert plain.startswith("CONTAINER ID   ")


@pytest.mark.parametrize(
    ("body", "fields"),
    [("{{.ID}}\t{{.Names}}", ["ID", "Names"]), ("{{.ID}}", ["ID"]), ("{{.ID}} {{.Names}}", None),
     ("{{ .ID }}", None), ("{{.Label `a`}}", None), ("ID:{{.ID}}", None), ("{{json .}}", None),
     ("{{.Config.Image}}", None), ("", None)],
)  # fmt: skip
def test_plain_fields_only_of_plain_cells(body: str, fields: list[str] | None) -> None:
    assert columns.plain_fields(body) == fields


def test_a_row_without_the_field_goes_to_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    output_format.rows("table {{.Nope}}\t{{.CreatedAt}}", [{"CreatedAt": "x"}], "")
    assert capsys.readouterr().out.splitlines()[1].startswith("<no value>")
