"""Docker's JSON progress stream (pull, push, load), shown the way docker shows it.

On a terminal each layer has its own line, rewritten in place as it advances; otherwise only
the status lines without progress are printed, one per line.
"""

from __future__ import annotations

import sys

from client.errors import ClientError

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TextIO


class StreamError(ClientError):
    """An error reported inside a progress stream, after the 200."""


def show(messages: Iterable[dict[str, Any]], out: TextIO | None = None) -> dict[str, Any]:
    """Render the stream; returns the last ``aux`` payload; raises StreamError on an error."""
    out = out or sys.stdout
    tty = out.isatty()
    order: list[str] = []
    aux: dict[str, Any] = {}
    for msg in messages:
        if msg.get("errorDetail") or msg.get("error"):
            detail = msg.get("errorDetail") or {}
            raise StreamError(str(detail.get("message") or msg.get("error")))
        if isinstance(msg.get("aux"), dict):
            aux = msg["aux"]
        if "stream" in msg:
            out.write(str(msg["stream"]))
            out.flush()
            continue
        status = str(msg.get("status", ""))
        if not status:
            continue
        ident = str(msg.get("id", ""))
        text = f"{ident}: {status}" if ident else status
        if tty and ident:
            bar = _bar(msg.get("progressDetail") or {})
            line = f"{text} {bar}".rstrip()
            if ident not in order:
                order.append(ident)
                out.write(line + "\n")
            else:
                up = len(order) - order.index(ident)
                out.write(f"\x1b[{up}A\r\x1b[2K{line}\x1b[{up}B\r")
        elif not msg.get("progressDetail") or not tty:
            if msg.get("progressDetail", {}).get("current") is not None:
                continue
            out.write(text + "\n")
        out.flush()
    return aux


def _bar(detail: dict[str, Any]) -> str:
    current, total = detail.get("current"), detail.get("total")
    if not isinstance(current, int) or not isinstance(total, int) or total <= 0:
        return ""
    width = 40
    filled = min(width, width * current // total)
    return f"[{'=' * max(filled - 1, 0)}{'>' if filled else ''}{' ' * (width - filled)}] " + (
        f"{_size(current)}/{_size(total)}"
    )


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n}B"
