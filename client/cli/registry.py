"""``estiba registry ls|tags|du|rm|gc|uploads``: administer the registry through the gateway.

Accounts and permissions (``user``, ``team``, ``robot``, ``grant``, ``anonymous``, ``quota``,
``retention``, ``audit``, ``key``) are in ``registry_access``.
"""

from __future__ import annotations

import json

from client import urls
from client.cli import flags, output, registry_access
from client.cli.registry_access import BASE
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("registry", help="administer estiba's registry")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("ls", help="list repositories")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=ls)
    v = verbs.add_parser("tags", help="list a repository's tags")
    v.add_argument("repository")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=tags)
    v = verbs.add_parser("du", help="space used, per repository")
    v.add_argument("repository", nargs="?", default="")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=du)
    v = verbs.add_parser("rm", help="delete a repository, REPO:TAG, or REPO@DIGEST")
    v.add_argument("target")
    v.set_defaults(run=rm)
    v = verbs.add_parser("gc", help="remove what nothing refers to")
    v.add_argument("--dry-run", action="store_true", help="only report what would go")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=gc)
    v = verbs.add_parser("uploads", help="list upload sessions in progress")
    v.set_defaults(run=uploads)
    registry_access.register(verbs)


def _path(name: str) -> str:
    return urls.quote(name, safe="/")


def _all_pages(api: Transport, path: str, key: str) -> list[str]:
    items: list[str] = []
    token = ""
    while True:
        page = api.get_json(path, versioned=False, query={"last": token} if token else None)
        items += page[key]
        token = page.get("next_page_token", "")
        if not token:
            return items


def _print_names(names: list[str], fmt: str | None) -> int:
    if fmt == "json":
        output.line(json.dumps(names))
        return 0
    for name in names:
        output.line(name)
    return 0


def ls(args: flags.Namespace, api: Transport) -> int:
    return _print_names(_all_pages(api, f"{BASE}/repositories", "names"), args.format)


def tags(args: flags.Namespace, api: Transport) -> int:
    path = f"{BASE}/repositories/{_path(args.repository)}/tags"
    return _print_names(_all_pages(api, path, "tags"), args.format)


def du(args: flags.Namespace, api: Transport) -> int:
    query = {"repository": args.repository} if args.repository else None
    data: dict[str, Any] = api.get_json(f"{BASE}/usage", versioned=False, query=query)
    if args.format == "json":
        output.line(json.dumps(data, indent=2))
        return 0
    output.table(
        ["REPOSITORY", "TAGS", "MANIFESTS", "BLOBS", "SIZE"],
        [
            [
                r["name"],
                r["tags"],
                r["manifests"],
                r["blobs"],
                output.human_bytes(int(r["total_bytes"])),
            ]
            for r in data["repositories"]
        ],
    )
    output.line()
    output.line(
        f"content store: {data['blobs']} blobs, {output.human_bytes(int(data['blob_bytes']))}"
    )
    if int(data["uploads"]):
        output.line(
            f"uploads in progress: {data['uploads']}, "
            f"{output.human_bytes(int(data['upload_bytes']))}"
        )
    return 0


def rm(args: flags.Namespace, api: Transport) -> int:
    target: str = args.target
    if "@" in target:
        repo, _, digest = target.partition("@")
        api.request(
            "DELETE", f"{BASE}/repositories/{_path(repo)}/manifests/{digest}", versioned=False
        )
    elif ":" in target.rsplit("/", 1)[-1]:
        repo, _, tag = target.rpartition(":")
        api.request(
            "DELETE", f"{BASE}/repositories/{_path(repo)}/tags/{_path(tag)}", versioned=False
        )
    else:
        _, data = api.request("DELETE", f"{BASE}/repositories/{_path(target)}", versioned=False)
        gone = json.loads(data)
        output.line(f"deleted {target}: {gone['manifests']} manifests, {gone['tags']} tags")
        return 0
    output.line(f"deleted {target}")
    return 0


def gc(args: flags.Namespace, api: Transport) -> int:
    query = {"dry_run": "1"} if args.dry_run else None
    _, data = api.request("POST", f"{BASE}/gc", versioned=False, query=query)
    report = json.loads(data)["report"]
    if args.format == "json":
        output.line(json.dumps(report, indent=2))
        return 0
    verb = "would remove" if report["dry_run"] else "removed"
    for m in report["manifests"]:
        output.line(f"{verb} manifest {m['repository']}@{m['digest']}")
    for t in report["tags_removed"]:
        output.line(f"{verb} tag {t['repository']}:{t['tag']} (retention)")
    for b in report["blobs"] + report["orphan_blobs"]:
        output.line(f"{verb} blob {b['digest']} ({output.human_bytes(int(b['size']))})")
    for u in report["uploads_expired"]:
        output.line(f"{verb} expired upload {u['id']} ({u['repository']})")
    output.line(
        f"{len(report['manifests'])} manifests and "
        f"{len(report['blobs']) + len(report['orphan_blobs'])} blobs; "
        f"{output.human_bytes(int(report['bytes_freed']))} "
        f"{'reclaimable' if report['dry_run'] else 'freed'}"
    )
    return 0


def uploads(args: flags.Namespace, api: Transport) -> int:
    data = api.get_json(f"{BASE}/uploads", versioned=False)
    output.table(
        ["ID", "REPOSITORY", "RECEIVED", "STARTED", "EXPIRES"],
        [
            [
                u["id"],
                u["repository"],
                output.human_bytes(int(u["size"])),
                u["created_at"],
                u["expires_at"],
            ]
            for u in data["uploads"]
        ],
    )
    return 0
