"""The local terminal while a container's or an exec's terminal is attached to it."""

from __future__ import annotations

import os
import sys

from client.errors import ClientError

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from client.transport import Transport


class RawTerminal:
    """Raw mode for the local terminal while attached, its size following the window's (each
    change sent to ``resize_path``). Without ``raw``, or when stdin is not a terminal, nothing
    changes; termios and signal are imported only when something does."""

    def __init__(self, api: Transport, resize_path: str, raw: bool) -> None:
        self.api = api
        self.resize_path = resize_path
        self.raw = raw and os.isatty(0)
        self._restore: list[object] = []

    def __enter__(self) -> None:
        if not self.raw:
            return
        import signal
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        previous = signal.signal(signal.SIGWINCH, self._resize)
        tty.setraw(fd)
        self._restore = [fd, saved, previous]
        self._resize()

    def __exit__(self, *_: object) -> None:
        if not self._restore:
            return
        import signal
        import termios

        fd, saved, previous = self._restore
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)  # type: ignore[arg-type]
        signal.signal(signal.SIGWINCH, previous)  # type: ignore[arg-type]

    def _resize(self, *_: object) -> None:
        cols, rows = os.get_terminal_size(sys.stdin.fileno())
        try:  # noqa: SIM105  # contextlib costs the CLI 2 ms of imports
            self.api.request("POST", self.resize_path, query={"h": str(rows), "w": str(cols)})
        except ClientError:
            pass  # the container may have gone: the next output or exit says so
