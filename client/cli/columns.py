"""Tables as docker prints them, and the plain ones printed without the template engine.

Every listing's default format (``table {{.ID}}\\t{{.Image}}\\t...``) and most that people
type are a row of plain fields. Such a table is a lookup per cell: this module prints it
without compiling a template, which would import ``re`` and ``json`` (8 ms of every
``estiba ps``). Any other format goes through ``client.cli.output_format``, which prints
tables with ``tabulate`` too, so the two agree to the character.
"""

from __future__ import annotations

from client.cli import output

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# the header docker prints above a column, where it is not just the field's name upper-cased
HEADERS = {
    "RunningFor": "CREATED",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "LocalVolumes": "LOCAL VOLUMES",
    "Mountpoint": "MOUNTPOINT",
    "UniqueSize": "UNIQUE SIZE",
    "SharedSize": "SHARED SIZE",
    "VirtualSize": "VIRTUAL SIZE",
}


def header(field: str, headers: Mapping[str, str] | None = None) -> str:
    """A column's header: the listing's own name for it, docker's, or the field's name with
    its words apart, upper-cased (``LocalVolumes``: ``LOCAL VOLUMES``)."""
    if headers and field in headers:
        return headers[field]
    if field in HEADERS:
        return HEADERS[field]
    words = "".join(
        " " + ch if ch.isupper() and i and field[i - 1].islower() else ch
        for i, ch in enumerate(field)
    )
    return words.upper()


def plain_fields(body: str) -> list[str] | None:
    """The fields of a table body made only of ``{{.Field}}`` cells between tabs, or None when
    it holds anything else (text, functions, pipelines, spaces) and needs the template engine."""
    fields = []
    for cell in body.split("\t"):
        name = cell.removeprefix("{{.").removesuffix("}}")
        if len(name) + 5 != len(cell) or not name.isalnum() or not name.isascii():
            return None
        fields.append(name)
    return fields


def plain_table(
    fields: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Print ``rows`` under ``fields``; False (printing nothing) when a row lacks a field or a
    field is not text, which the template engine then reports or works out."""
    lines = ["\t".join(header(f, headers) for f in fields)]
    for row in rows:
        cells = [row.get(f) for f in fields]
        if not all(isinstance(cell, str) for cell in cells):
            return False
        lines.append("\t".join(cells))  # type: ignore[arg-type]  # all str: checked above
    tabulate(lines)
    return True


def tabulate(lines: list[str]) -> None:
    """Go's tabwriter as docker sets it up (minwidth 10, padding 3): cells split on tabs, each
    column as wide as its widest cell plus three spaces, and never narrower than ten."""
    cells = [text.split("\t") for text in lines]
    width = max((len(row) for row in cells), default=0)
    sizes = [
        max(10, max((len(row[i]) for row in cells if i < len(row) - 1), default=0) + 3)
        for i in range(width)
    ]
    for row in cells:
        parts = [cell.ljust(sizes[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        output.line("".join(parts))
