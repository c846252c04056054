"""``--format`` as docker reads it: ``table``, ``json``, ``table TEMPLATE`` or ``TEMPLATE``.

Listings (ps, images, volume ls, ...) apply the format to each row; ``inspect`` applies it to each
object, with no format meaning the indented JSON array. A format that does not parse or apply is
a usage error reported in one line (``template: ...``), as docker reports it, exit code 125.

The template engine and ``json`` are imported when a format needs them: a listing's default
table is printed by ``client.cli.columns`` alone, which keeps ``estiba ps`` quick to start.
"""

from __future__ import annotations

from client.cli import columns, output
from client.errors import ClientError

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from client.cli.template import Template


def compile_(text: str) -> Template:
    from client.cli.template import Template, TemplateError

    try:
        return Template(text)
    except TemplateError as exc:
        raise ClientError(f"template parsing error: {exc}") from exc


def render(template: Template, value: Any) -> str:
    from client.cli.template import TemplateError

    try:
        return template.render(value)
    except TemplateError as exc:
        raise ClientError(f"template: {exc}") from exc


def go_json(value: Any) -> str:
    """JSON as Go's encoder writes a row: keys sorted, <, > and & escaped."""
    import json

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _unescape(text: str) -> str:
    """Docker turns a typed ``\\t`` or ``\\n`` into the character (shells pass them literally)."""
    return text.replace("\\t", "\t").replace("\\n", "\n")


def rows(
    fmt: str,
    items: Sequence[Mapping[str, Any]],
    default: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Print a listing: ``default`` is the ``table ...`` format used when none is given;
    ``headers`` names the columns that this listing calls differently (ID: "CONTAINER ID")."""
    fmt = fmt.strip()
    if fmt == "json":
        from client.cli.template import plain

        for item in items:
            output.line(go_json(plain(item)))
        return
    if fmt in ("", "table"):
        fmt = default
    is_table = fmt.startswith("table")
    body = _unescape(fmt[len("table") :].strip() if is_table else fmt)
    fields = columns.plain_fields(body) if is_table else None
    if fields and columns.plain_table(fields, items, headers):
        return
    template = compile_(body)
    lines = [render(template, item) for item in items]
    if not is_table:
        for text in lines:
            output.line(text)
        return
    header = render(template, _HeaderRow(headers or {}))
    columns.tabulate([header, *lines])


class _HeaderRow(dict[str, object]):
    """A row whose every field is its own column header, so rendering the row template over it
    gives the header line, the trick docker uses too."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__()
        self.headers = headers

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> Any:
        if key in self.headers:
            return self.headers[key]
        if key == "Label":  # docker's header: the key's last dotted part, - and _ as spaces
            return lambda name: str(name).rsplit(".", 1)[-1].replace("-", " ").replace("_", " ")
        if key == "Labels":
            return _HeaderLabels()
        return columns.header(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key]


class _AnyLabel(dict[str, str]):
    def get(self, key: str, default: Any = None) -> str:
        return str(key).upper()


class _HeaderLabels(str):
    """The header of ``{{.Labels}}``, which ``{{index .Labels "k"}}`` turns into ``K``."""

    mapping = _AnyLabel()

    def __new__(cls) -> _HeaderLabels:
        return super().__new__(cls, "LABELS")


def objects(fmt: str, found: Sequence[Any]) -> None:
    """Print inspected objects: the indented JSON array, one JSON line each, or a template each."""
    import json

    if not fmt:
        output.line(json.dumps(list(found), indent=4))
        return
    if fmt == "json":
        for item in found:
            output.line(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
        return
    template = compile_(_unescape(fmt))
    for item in found:
        output.line(render(template, item))
