"""Commands that reach inside containers: exec, cp, diff, commit, export, top, stats."""

from __future__ import annotations

import os
import sys

from client import hijack, jsontext, urls
from client.cli import flags, output
from client.cli.refs import split_tag
from client.cli.terminal import RawTerminal
from client.errors import ClientError
from client.transport import Transport


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("exec", help="run a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("container")
    p.add_argument("command", nargs=flags.REMAINDER)
    p.set_defaults(run=exec_)
    p = sub.add_parser("cp", help="copy files between a container and the local filesystem")
    p.add_argument("source")
    p.add_argument("destination")
    p.set_defaults(run=cp)
    p = sub.add_parser("diff", help="changes in a container's filesystem")
    p.add_argument("container")
    p.set_defaults(run=diff)
    p = sub.add_parser("commit", help="make an image from a container's changes")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-p", "--pause", action="store_true", default=True)
    p.add_argument("container")
    p.add_argument("reference", nargs="?", default="")
    p.set_defaults(run=commit)
    p = sub.add_parser("export", help="write a container's filesystem as a tar")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    p.set_defaults(run=export)
    p = sub.add_parser("port", help="the published ports of a container")
    p.add_argument("container")
    p.add_argument("private", nargs="?", default="", help="e.g. 80/tcp")
    p.set_defaults(run=port)
    p = sub.add_parser("top", help="processes running in a container")
    p.add_argument("container")
    p.set_defaults(run=top)
    p = sub.add_parser("stats", help="resource usage of running containers")
    p.add_argument("--no-stream", action="store_true", help="one sample, then exit")
    p.add_argument("containers", nargs="*")
    p.set_defaults(run=stats)


def exec_(args: flags.Namespace, api: Transport) -> int:
    command = [c for c in args.command if c != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        raise ClientError("exec needs a command")
    body = {
        "Cmd": command,
        "Env": args.env,
        "User": args.user,
        "WorkingDir": args.workdir,
        "Tty": args.tty,
        "AttachStdin": args.interactive and not args.detach,
        "AttachStdout": not args.detach,
        "AttachStderr": not args.detach,
    }
    _, data = api.request("POST", f"/containers/{args.container}/exec", body=body)
    exec_id = jsontext.loads(data)["Id"]
    if args.detach:
        api.request("POST", f"/exec/{exec_id}/start", body={"Detach": True, "Tty": args.tty})
        return 0
    sock = hijack.open_socket(api.host)
    payload = jsontext.dumps({"Detach": False, "Tty": args.tty}).encode()
    started = hijack.request(sock, "POST", f"/exec/{exec_id}/start", {}, upgrade=True, body=payload)
    if started.status not in (101, 200):
        raise hijack.error_of(started)
    attachment = hijack.Attachment(sock, started.leftover(), tty=args.tty)
    with RawTerminal(api, f"/exec/{exec_id}/resize", args.tty and args.interactive):
        if args.interactive:
            attachment.pump_stdin(sys.stdin.buffer, None)
        else:
            attachment.close_stdin()
        attachment.pump_output()
    info = api.get_json(f"/exec/{exec_id}/json")
    return int(info.get("ExitCode") or 0)


def cp(args: flags.Namespace, api: Transport) -> int:
    from client.cli import copying  # tarfile and pathlib: only cp pays for them

    return copying.cp(args, api)


def diff(args: flags.Namespace, api: Transport) -> int:
    for change in api.get_json(f"/containers/{args.container}/changes") or []:
        output.line(f"{'CAD'[change['Kind']]} {change['Path']}")
    return 0


def commit(args: flags.Namespace, api: Transport) -> int:
    query: list[tuple[str, str]] = [
        ("container", args.container),
        ("comment", args.message),
        ("author", args.author),
        ("pause", "1" if args.pause else "0"),
    ]
    if args.reference:
        repo, tag = split_tag(args.reference)
        query += [("repo", repo), ("tag", tag)]
    query += [("changes", change) for change in args.change]
    _, data = api.request("POST", "/commit?" + urls.urlencode(query))
    output.line(jsontext.loads(data)["Id"])
    return 0


def export(args: flags.Namespace, api: Transport) -> int:
    if not args.output and os.isatty(1):
        raise ClientError("refusing to write a tar to a terminal; use -o or redirect")
    target = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        for chunk in api.stream_bytes("GET", f"/containers/{args.container}/export"):
            target.write(chunk)
    finally:
        if args.output:
            target.close()
    return 0


def port(args: flags.Namespace, api: Transport) -> int:
    ports = api.get_json(f"/containers/{args.container}/json")["NetworkSettings"]["Ports"] or {}
    wanted = args.private if "/" in args.private or not args.private else f"{args.private}/tcp"
    for key, bindings in sorted(ports.items()):
        if wanted and key != wanted:
            continue
        for b in bindings or []:
            output.line(
                f"{b['HostIp']}:{b['HostPort']}"
                if wanted
                else f"{key} -> {b['HostIp']}:{b['HostPort']}"
            )
    return 0


def top(args: flags.Namespace, api: Transport) -> int:
    data = api.get_json(f"/containers/{args.container}/top")
    output.table(data["Titles"], data["Processes"])
    return 0


def stats(args: flags.Namespace, api: Transport) -> int:
    names = args.containers or [c["Id"][:12] for c in api.get_json("/containers/json")]
    rows = []
    for name in names:
        s = api.get_json(f"/containers/{name}/stats", query={"stream": "0"})
        used, limit = s["memory_stats"].get("usage", 0), s["memory_stats"].get("limit", 0) or 1
        rows.append(
            [
                s["id"][:12],
                s["name"].lstrip("/"),
                f"{output.human_bytes(used)} / {output.human_bytes(limit)}",
                f"{100 * used / limit:.2f}%",
                s["pids_stats"].get("current", 0),
            ]
        )
    output.table(["CONTAINER ID", "NAME", "MEM USAGE / LIMIT", "MEM %", "PIDS"], rows)
    return 0
