"""The rows docker's listings offer to ``--format``, built from the Engine API's answers.

Field names and their text are docker's (``.ID``, ``.Names``, ``.RunningFor``, ``.Ports``,
``.CreatedSince``, ...) so a format string written for docker prints the same here. Every
field is a string, as in docker's ``--format json``; ``.Label "k"`` is a method. ``.Labels``
is docker's ``k=v,k2=v2`` text that ``index`` can also look into.
"""

from __future__ import annotations

import time

from client.cli.lazy import Lazy

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PS = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
DEFAULT_IMAGES = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DEFAULT_VOLUMES = "table {{.Driver}}\t{{.Name}}"
DEFAULT_NETWORKS = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


class Labels(str):
    """Docker's ``k=v,k2=v2`` text, which also answers ``index`` with the value of a key."""

    mapping: dict[str, str]

    def __new__(cls, labels: dict[str, str] | None) -> Labels:
        labels = labels or {}
        self = super().__new__(cls, ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        self.mapping = dict(labels)
        return self


def human_duration(seconds: float) -> str:
    """Go's units.HumanDuration, the words docker uses for "how long ago"."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def ago(created: float, now: float | None = None) -> str:
    return human_duration((now if now is not None else time.time()) - created) + " ago"


def human_size(n: float, precision: int = 3) -> str:
    """Go's units.HumanSizeWithPrecision: decimal units, as docker prints sizes."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.{precision}g}{unit}"
        n /= 1000
    return f"{n:.{precision}g}PB"


_LOCAL: list[Any] = []  # the local time zone, looked up once


def created_at(created: float | str) -> str:
    """Go's time.String() in local time: ``2026-11-28 07:41:17 +0000 UTC``."""
    from datetime import datetime  # 4 ms to import: only formats that show it pay

    if not _LOCAL:
        _LOCAL.append(datetime.now().astimezone().tzinfo)
    if isinstance(created, str):
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(_LOCAL[0])
        except ValueError:
            return created
    else:
        when = datetime.fromtimestamp(created, _LOCAL[0])
    fraction = f".{when.microsecond:06d}".rstrip("0") if when.microsecond else ""
    return (
        when.strftime("%Y-%m-%d %H:%M:%S")
        + fraction
        + when.strftime(" %z ")
        + (when.tzname() or "")
    )


def short_id(ident: str, full: bool) -> str:
    return ident if full else ident.removeprefix("sha256:")[:12]


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ports(entries: list[dict[str, Any]] | None) -> str:
    """``0.0.0.0:8080->80/tcp, 53/udp``."""
    out = []
    for p in entries or []:
        inner = f"{p.get('PrivatePort')}/{p.get('Type', 'tcp')}"
        if p.get("PublicPort"):
            host = p.get("IP", "")
            ip = f"[{host}]" if ":" in host else host
            out.append(f"{ip}:{p['PublicPort']}->{inner}")
        else:
            out.append(inner)
    return ", ".join(dict.fromkeys(out))


def container(c: dict[str, Any], *, no_trunc: bool = False) -> dict[str, Any]:
    labels: dict[str, str] = c.get("Labels") or {}
    command = c.get("Command", "")
    networks = (c.get("NetworkSettings") or {}).get("Networks") or {}
    mounts = [m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []]
    size = ""
    if "SizeRw" in c:
        size = human_size(c.get("SizeRw") or 0)
        if c.get("SizeRootFs"):
            size += f" (virtual {human_size(c['SizeRootFs'])})"
    return {
        "Command": f'"{command if no_trunc else ellipsis(command, 20)}"',
        "CreatedAt": Lazy(lambda: created_at(c.get("Created", 0))),
        "ID": short_id(c["Id"], no_trunc),
        "Image": c.get("Image", ""),
        "Labels": Labels(labels),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
        "Mounts": ",".join(ellipsis(m, 15) if not no_trunc else m for m in mounts),
        "Names": ",".join(n.lstrip("/") for n in c.get("Names") or []),
        "Networks": ",".join(sorted(networks)),
        "Ports": ports(c.get("Ports")),
        "RunningFor": ago(c.get("Created", 0)),
        "Size": size or "0B",
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Label": lambda key: labels.get(key, ""),
    }


def images(i: dict[str, Any], *, no_trunc: bool = False, digests: bool = False) -> list[Any]:
    """One row per repository:tag (or one ``<none>`` row), as docker images lists them."""
    base = {
        "Containers": "N/A" if i.get("Containers", -1) < 0 else str(i["Containers"]),
        "CreatedAt": Lazy(lambda: created_at(i.get("Created", 0))),
        "CreatedSince": ago(i.get("Created", 0)),
        "ID": short_id(i["Id"], no_trunc),
        "SharedSize": "N/A" if i.get("SharedSize", -1) < 0 else human_size(i["SharedSize"]),
        "Size": human_size(i.get("Size", 0)),
        "UniqueSize": "N/A",
        "VirtualSize": human_size(i.get("VirtualSize", i.get("Size", 0)), 4),
    }
    digests_of = {d.partition("@")[0]: d.partition("@")[2] for d in i.get("RepoDigests") or []}
    rows = []
    for name in i.get("RepoTags") or []:
        repo, _, tag = name.rpartition(":")
        rows.append(
            {**base, "Repository": repo, "Tag": tag, "Digest": digests_of.get(repo, "<none>")}
        )
    if not rows:
        for digested in i.get("RepoDigests") or [None]:
            repo, _, digest = (digested or "<none>@<none>").partition("@")
            rows.append({**base, "Repository": repo, "Tag": "<none>", "Digest": digest})
    return rows


def volume(v: dict[str, Any]) -> dict[str, Any]:
    labels: dict[str, str] = v.get("Labels") or {}
    usage = v.get("UsageData") or {}
    return {
        "Availability": "N/A",
        "Driver": v.get("Driver", ""),
        "Group": "N/A",
        "Labels": Labels(labels),
        "Links": str(usage["RefCount"]) if "RefCount" in usage else "N/A",
        "Mountpoint": v.get("Mountpoint", ""),
        "Name": v.get("Name", ""),
        "Scope": v.get("Scope", "local"),
        "Size": human_size(usage["Size"]) if usage.get("Size", -1) >= 0 else "N/A",
        "Status": "N/A",
        "Label": lambda key: labels.get(key, ""),
    }


def network(n: dict[str, Any], *, no_trunc: bool = False) -> dict[str, Any]:
    labels: dict[str, str] = n.get("Labels") or {}
    return {
        "CreatedAt": Lazy(lambda: created_at(n.get("Created", ""))),
        "Driver": n.get("Driver", ""),
        "ID": short_id(n["Id"], no_trunc),
        "IPv4": str(bool(n.get("EnableIPv4"))).lower(),
        "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
        "Internal": str(bool(n.get("Internal"))).lower(),
        "Labels": Labels(labels),
        "Name": n.get("Name", ""),
        "Scope": n.get("Scope", "local"),
        "Label": lambda key: labels.get(key, ""),
    }
