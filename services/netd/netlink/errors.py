"""Kernel failures as services.kit.errors, translated once, at this boundary."""

from __future__ import annotations

import errno
import os

from pyroute2.netlink.exceptions import NetlinkError

from services.kit import errors


def code_of(exc: BaseException) -> int | None:
    """The errno a netlink or OS error carries, if any."""
    if isinstance(exc, NetlinkError):
        return int(exc.code)
    if isinstance(exc, OSError):
        return exc.errno
    return None


def is_missing(exc: BaseException) -> bool:
    return code_of(exc) in (errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL)


def is_exists(exc: BaseException) -> bool:
    return code_of(exc) == errno.EEXIST


def is_invalid(exc: BaseException) -> bool:
    return code_of(exc) == errno.EINVAL


def translate(exc: BaseException, doing: str) -> errors.EstibaError:
    """The kit error for a kernel failure while ``doing`` something ("create veth est1a2b").

    Conflicts with the kernel's state are FAILED_PRECONDITION, not ALREADY_EXISTS or NOT_FOUND:
    a caller of CreateSandbox must not read them as "the sandbox exists" or "no such network".
    """
    code = code_of(exc)
    text = os.strerror(code) if code else str(exc)
    message = f"kernel refused to {doing}: {text}"
    if code == errno.EEXIST:
        return errors.FailedPrecondition(message, reason="KERNEL_OBJECT_EXISTS")
    if is_missing(exc):
        return errors.FailedPrecondition(message, reason="KERNEL_OBJECT_MISSING")
    if code in (errno.EPERM, errno.EACCES):
        return errors.FailedPrecondition(
            f"{message} (netd needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN)",
            reason="KERNEL_PERMISSION",
        )
    return errors.Internal(message, reason="KERNEL_ERROR")
