"""Signal names as users give them ("KILL", "SIGKILL", "9") to what runc accepts."""

from __future__ import annotations

import signal

from services.kit import errors


def normalize(name: str, default: str = "SIGKILL") -> str:
    text = (name or default).strip().upper()
    if text.isdigit():
        try:
            return signal.Signals(int(text)).name
        except ValueError as exc:
            raise errors.InvalidArgument(f"Invalid signal: {name}") from exc
    if not text.startswith("SIG"):
        text = "SIG" + text
    if text.startswith("SIGRTMIN") or text.startswith("SIGRTMAX"):
        return text
    if text not in signal.Signals.__members__:
        raise errors.InvalidArgument(f"Invalid signal: {name}", reason="SIGNAL_INVALID")
    return text
