"""Forget a stopped container in runc's state root without starting runc.

For a container whose init has exited, ``runc delete`` (libcontainer's ``destroy``, runc 1.1)
removes the container's cgroup in every hierarchy, then its state directory, then runs poststop
hooks. The engine does the two removals itself: they take well under a millisecond, where
starting runc costs ~7 ms of CPU and 15-30 ms of wall time on a busy machine, once for every
container that ends.

Only containers as the engine makes them are forgotten this way: a pid namespace of their own,
no hooks, no Intel RDT, cgroupfs with the cgroup path the engine chose, so neither the state
file (34 kB of JSON, most of a millisecond to parse) nor runc's view of the config is needed.
A cgroup that still holds a process cannot be removed (EBUSY): that is the check that the
container really stopped, made before anything is removed, and then ``runc delete`` (the
caller's fallback) has the last word, as it does when the runtime is not runc.

Blocking: called in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path


def forget_stopped(state_dir: Path, cgroup_dirs: Sequence[Path]) -> bool:
    """Remove the cgroup directories and the state directory of a stopped container; True when
    nothing of it is left. False means "ask runc": the state directory is then left as it was.
    """
    if not state_dir.exists():
        return True
    for path in cgroup_dirs:
        if not _remove_cgroup(path):
            return False
    shutil.rmtree(state_dir, ignore_errors=True)
    return not state_dir.exists()


def _remove_cgroup(path: Path) -> bool:
    """rmdir the cgroup and any child cgroups, deepest first; False if one still has a process
    (or cannot be removed for another reason)."""
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        pass
    children: list[str] = []
    with contextlib.suppress(OSError):
        children = [str(d) for d, _, _ in os.walk(path, topdown=False)]
    for child in children:
        try:
            os.rmdir(child)
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return not path.exists()
