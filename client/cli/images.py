"""Image commands: pull, push, images, rmi, tag, history, save, load, import, image bootstrap."""

from __future__ import annotations

import io
import json
import sys

from client import progress, urls
from client.cli import flags, listings, output, output_format, output_rows
from client.cli.refs import split_tag as _split_tag
from client.errors import APIError, ClientError
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("pull", help="pull an image from a registry")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the name")
    p.add_argument("image")
    p.set_defaults(run=pull_cmd)
    p = sub.add_parser("push", help="push an image to a registry")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress")
    p.add_argument("image")
    p.set_defaults(run=push)
    p = sub.add_parser("images", help="list images")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--digests", action="store_true", help="show digests")
    output.add_format_flag(p)
    p.add_argument("reference", nargs="?")
    p.set_defaults(run=listings.images)
    p = sub.add_parser("rmi", help="remove images")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("images", nargs="+")
    p.set_defaults(run=rmi)
    p = sub.add_parser("tag", help="give an image another name")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(run=tag)
    p = sub.add_parser("history", help="show an image's history")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="only the ids")
    p.add_argument("-H", "--human", default=True, action=flags.BooleanOptionalAction)
    output.add_format_flag(p)
    p.add_argument("image")
    p.set_defaults(run=history)
    p = sub.add_parser("save", help="write images to a tar archive (Docker's format)")
    p.add_argument("-o", "--output", required=False)
    p.add_argument("images", nargs="+")
    p.set_defaults(run=save)
    p = sub.add_parser("load", help="load images from a tar archive")
    p.add_argument("-i", "--input")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(run=load)
    p = sub.add_parser("import", help="make an image from a root filesystem tarball")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("file", help="the tarball, or - for standard input")
    p.add_argument("reference", nargs="?", default="")
    p.set_defaults(run=import_)
    p = sub.add_parser("image", help="image operations beyond Docker's")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    v = verbs.add_parser("bootstrap", help="build a Debian image from Debian's mirror")
    v.add_argument("reference", help="e.g. debian:bookworm")
    v.add_argument("--suite", default="", help="Debian suite (default: the reference's tag)")
    v.add_argument("--mirror", default="")
    v.add_argument("--variant", default="")
    v.set_defaults(run=bootstrap)


def pull_cmd(args: flags.Namespace, api: Transport) -> int:
    name, tag_ = _split_tag(args.image)
    if "@" not in args.image and ":" not in args.image.rsplit("/", 1)[-1] and not args.quiet:
        output.line("Using default tag: latest")
    from client.cli.containers import pull  # the image commands need no container code

    pull(api, args.image, quiet=args.quiet)
    output.line(f"{name}{'@' if tag_.startswith('sha256:') else ':'}{tag_}")
    return 0


def push(args: flags.Namespace, api: Transport) -> int:
    name, tag_ = _split_tag(args.image)
    from client.credentials import auth_header  # pathlib and the credential file: push only

    headers = {"X-Registry-Auth": auth_header(name)}
    messages = api.stream_json(
        "POST",
        f"/images/{urls.quote(name, safe='/:')}/push",
        query={"tag": tag_},
        headers=headers,
    )
    aux = progress.show(messages, io.StringIO() if args.quiet else sys.stdout)
    if args.quiet:
        output.line(args.image)
    elif aux.get("Digest"):
        output.line(f"{aux.get('Tag', tag_)}: digest: {aux['Digest']} size: {aux.get('Size', 0)}")
    return 0


def rmi(args: flags.Namespace, api: Transport) -> int:
    failed = False
    query = {"force": "1" if args.force else "0", "noprune": "1" if args.no_prune else "0"}
    for name in args.images:
        try:
            _, data = api.request("DELETE", f"/images/{urls.quote(name, safe='/:@')}", query=query)
        except APIError as exc:
            output.error(f"Error response from daemon: {exc.message}")
            failed = True
            continue
        for item in json.loads(data):
            for key, value in item.items():
                output.line(f"{key}: {value}")
    return 1 if failed else 0


def tag(args: flags.Namespace, api: Transport) -> int:
    repo, tag_ = _split_tag(args.target)
    api.request(
        "POST",
        f"/images/{urls.quote(args.source, safe='/:@')}/tag",
        query={"repo": repo, "tag": tag_},
    )
    return 0


def history(args: flags.Namespace, api: Transport) -> int:
    entries = api.get_json(f"/images/{urls.quote(args.image, safe='/:@')}/history")
    if args.quiet:
        for e in entries:
            output.line(output_rows.short_id(e["Id"], args.no_trunc))
        return 0
    rows = [_history_row(e, args.no_trunc, args.human) for e in entries]
    default = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    output_format.rows(args.format, rows, default, {"ID": "IMAGE"})
    return 0


def _history_row(e: dict[str, Any], no_trunc: bool, human: bool) -> dict[str, Any]:
    """docker history's fields for --format."""
    return {
        "ID": output_rows.short_id(e["Id"], no_trunc),
        "CreatedSince": output_rows.ago(e["Created"]) if human else str(e["Created"]),
        "CreatedAt": output_rows.created_at(e["Created"]),
        "CreatedBy": e["CreatedBy"] if no_trunc else output_rows.ellipsis(e["CreatedBy"], 45),
        "Size": output_rows.human_size(e["Size"]) if human else str(e["Size"]),
        "Comment": e.get("Comment", ""),
    }


def save(args: flags.Namespace, api: Transport) -> int:
    if not args.output and sys.stdout.isatty():
        raise ClientError("refusing to write an archive to a terminal; use -o or redirect")
    query = [("names", n) for n in args.images]
    url = "/images/get?" + urls.urlencode(query)
    target = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        for chunk in api.stream_bytes("GET", url):
            target.write(chunk)
    finally:
        if args.output:
            target.close()
    return 0


def load(args: flags.Namespace, api: Transport) -> int:
    source = open(args.input, "rb") if args.input else sys.stdin.buffer  # noqa: SIM115
    try:
        messages = api.upload_json(
            "POST", "/images/load", source, query={"quiet": "1" if args.quiet else "0"}
        )
        progress.show(messages, sys.stdout)
    finally:
        if args.input:
            source.close()
    return 0


def import_(args: flags.Namespace, api: Transport) -> int:
    query: list[tuple[str, str]] = [("fromSrc", "-"), ("message", args.message)]
    if args.reference:
        repo, tag_ = _split_tag(args.reference)
        query += [("repo", repo), ("tag", tag_)]
    query += [("changes", change) for change in args.change]
    source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    try:
        messages = api.upload_json("POST", "/images/create?" + urls.urlencode(query), source)
        last = ""
        for message in messages:
            if message.get("error"):
                raise ClientError(str(message["error"]))
            last = str(message.get("status", last))
        output.line(last)
    finally:
        if args.file != "-":
            source.close()
    return 0


def bootstrap(args: flags.Namespace, api: Transport) -> int:
    _, tag_ = _split_tag(args.reference)
    body = {
        "reference": args.reference,
        "suite": args.suite or tag_,
        "mirror": args.mirror,
        "variant": args.variant,
    }
    messages = api.stream_json("POST", "/estiba/v1/images/bootstrap", versioned=False, body=body)
    progress.show(messages, sys.stdout)
    output.line(args.reference)
    repo, _ = _split_tag(args.reference)
    latest = f"{repo}:latest"
    if tag_ != "latest" and not api.get_json(
        "/images/json", query={"filters": json.dumps({"reference": [latest]})}
    ):
        api.request("POST", f"/images/{args.reference}/tag", query={"repo": repo, "tag": "latest"})
        output.line(f"{latest} (the newest bootstrap of {repo})")
    return 0
