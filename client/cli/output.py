"""All printing of tables and values. Nothing else in the CLI calls print for results."""

from __future__ import annotations

import sys

from client import jsontext

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Sequence

    from client.cli import flags


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell, three spaces apart, as docker prints them."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        line = "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")


def fields(pairs: Sequence[tuple[str, object]], *, indent: int = 1) -> None:
    """``Key: value`` lines, the keys aligned."""
    width = max((len(k) for k, _ in pairs), default=0) + 1
    pad = " " * indent
    for key, value in pairs:
        sys.stdout.write(f"{pad}{(key + ':').ljust(width)} {value}\n")


def line(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def error(text: str) -> None:
    sys.stderr.write(text.rstrip() + "\n")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return f"{n}B"


def filters(items: list[str]) -> dict[str, list[str]]:
    """``-f key=value`` flags → Docker's filters object (several values of one key: any)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, _, value = item.partition("=")
        out.setdefault(key, []).append(value)
    return out


def filter_query(items: list[str]) -> dict[str, str]:
    """The query that carries ``-f`` flags: ``{"filters": JSON}``, or nothing without them."""
    found = filters(items)
    return {"filters": jsontext.dumps(found)} if found else {}


def add_format_flag(parser: flags.Parser, help_suffix: str = "") -> None:
    """The ``--format`` flag (``-f`` where docker has it is added by the command)."""
    parser.add_argument(
        "--format",
        default="",
        metavar="FORMAT",
        help="'table', 'json', 'table TEMPLATE' or a Go template such as '{{.ID}}'" + help_suffix,
    )
