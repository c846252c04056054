"""Container commands: run, create, start, stop, restart, kill, rm, ps, logs, attach, wait, ..."""

from __future__ import annotations

import io
import sys

from client import hijack, jsontext, urls, wire
from client.cli import flags, output
from client.cli.runflags import add_create_flags, create_body
from client.cli.terminal import RawTerminal
from client.errors import APIError, ClientError, NotFound
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any


def register(sub: flags.Subcommands) -> None:
    for name, helptext in (
        ("run", "create and start a container"),
        ("create", "create a container"),
    ):
        p = sub.add_parser(name, help=helptext, add_help=False)
        p.add_argument("--help", action="help", help="show this help")
        add_create_flags(p)
        if name == "run":
            p.add_argument("-d", "--detach", action="store_true", help="run in the background")
            p.add_argument("--detach-keys", default="", help="keys that detach (ctrl-p,ctrl-q)")
        p.set_defaults(run=run if name == "run" else create)
    p = sub.add_parser("start", help="start stopped containers")
    p.add_argument("-a", "--attach", action="store_true", help="attach output")
    p.add_argument("-i", "--interactive", action="store_true", help="attach stdin")
    p.add_argument("containers", nargs="+")
    p.set_defaults(run=start)
    for name, helptext in (("stop", "stop running containers"), ("restart", "restart containers")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("-t", "--time", type=int, default=None, help="seconds before SIGKILL")
        p.add_argument("-s", "--signal", default="", help="signal to send first")
        p.add_argument("containers", nargs="+")
        p.set_defaults(run=stop if name == "stop" else restart)
    p = sub.add_parser("kill", help="send a signal to running containers")
    p.add_argument("-s", "--signal", default="KILL")
    p.add_argument("containers", nargs="+")
    p.set_defaults(run=kill)
    p = sub.add_parser("rm", help="remove containers")
    p.add_argument("-f", "--force", action="store_true", help="kill a running one first")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    p.add_argument("containers", nargs="+")
    p.set_defaults(run=rm)
    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true", help="include stopped containers")
    p.add_argument("-q", "--quiet", action="store_true", help="only ids")
    p.add_argument("-f", "--filter", action="append", default=[], help="key=value")
    p.add_argument("-n", "--last", type=int, default=-1, help="the n last created (any state)")
    p.add_argument("-l", "--latest", action="store_true", help="the last created (any state)")
    p.add_argument("-s", "--size", action="store_true", help="show the files' total size")
    p.add_argument("--no-trunc", action="store_true")
    output.add_format_flag(p)
    p.set_defaults(run=_ps)
    p = sub.add_parser("logs", help="show a container's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--since", default="")
    p.add_argument("--until", default="")
    p.add_argument("container")
    p.set_defaults(run=logs)
    p = sub.add_parser("attach", help="attach to a running container")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--detach-keys", default="")
    p.add_argument("container")
    p.set_defaults(run=attach)
    p = sub.add_parser("wait", help="wait for containers to stop; print their exit codes")
    p.add_argument("containers", nargs="+")
    p.set_defaults(run=wait)
    p = sub.add_parser("rename", help="rename a container")
    p.add_argument("container")
    p.add_argument("new_name")
    p.set_defaults(run=rename)
    for name in ("pause", "unpause"):
        p = sub.add_parser(name, help=f"{name} all processes of containers")
        p.add_argument("containers", nargs="+")
        p.set_defaults(run=pause if name == "pause" else unpause)
    p = sub.add_parser("inspect", help="show low-level information as JSON")
    p.add_argument(
        "-f", "--format", default="", help="'json' or a Go template: '{{.State.Status}}'"
    )
    p.add_argument("-s", "--size", action="store_true", help="include containers' sizes")
    p.add_argument("--type", choices=INSPECT_TYPES, default="", help="only this kind of object")
    p.add_argument("objects", nargs="+")
    p.set_defaults(run=inspect)


# -- create and run ----------------------------------------------------------------------


def _create(api: Transport, name: str, body: dict[str, Any], node: str = "") -> str:
    query = {k: v for k, v in (("name", name), ("node", node)) if v} or None
    try:
        _, data = api.request("POST", "/containers/create", query=query, body=body)
    except NotFound as exc:
        if "image" not in exc.message.lower():
            raise
        output.error(f"Unable to find image '{_with_tag(body['Image'])}' locally")
        pull(api, body["Image"], node=node)
        _, data = api.request("POST", "/containers/create", query=query, body=body)
    reply = jsontext.loads(data)
    for warning in reply.get("Warnings") or []:
        output.error(f"WARNING: {warning}")
    return str(reply["Id"])


def _with_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in image else image + ":latest"


def pull(api: Transport, image: str, *, quiet: bool = False, node: str = "") -> None:
    from client import progress
    from client.cli.refs import split_tag
    from client.credentials import auth_header  # pathlib and the credential file: pulls only

    name, tag = split_tag(image)
    messages = api.stream_json(
        "POST",
        "/images/create",
        query={"fromImage": name, "tag": tag, **({"node": node} if node else {})},
        headers={"X-Registry-Auth": auth_header(name)},
    )
    progress.show(messages, io.StringIO() if quiet else sys.stderr)


class StartFailed(ClientError):
    """The container's process could not be started; ``exit_code`` is docker's for the cause:
    127 when the command is not found, 126 when it cannot be invoked, else 125."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        lowered = message.lower()
        self.exit_code = 125
        if "executable file not found" in lowered or "no such file or directory" in lowered:
            self.exit_code = 127
        elif "permission denied" in lowered or "is a directory" in lowered:
            self.exit_code = 126


def _start(api: Transport, cid: str) -> None:
    try:
        api.request("POST", f"/containers/{cid}/start")
    except APIError as exc:
        raise StartFailed(exc.message) from exc


def create(args: flags.Namespace, api: Transport) -> int:
    output.line(_create(api, args.name, create_body(args), args.node))
    return 0


def run(args: flags.Namespace, api: Transport) -> int:
    body = create_body(args)
    cid = _create(api, args.name, body, args.node)
    if args.detach:
        _start(api, cid)
        output.line(cid)
        return 0
    condition = "removed" if args.rm else "next-exit"
    return _attach_and_start(
        api,
        cid,
        tty=args.tty,
        stdin=args.interactive,
        condition=condition,
        detach_keys=args.detach_keys,
        start=True,
    )


def _attach_and_start(
    api: Transport,
    cid: str,
    *,
    tty: bool,
    stdin: bool,
    condition: str,
    detach_keys: str,
    start: bool,
) -> int:
    """Docker's order: attach and wait (both answered, the wait's headers flushed), then
    start; exit code from wait. The attach and the wait are in flight together."""
    sock = hijack.open_socket(api.host)
    query = {"stream": "1", "stdout": "1", "stderr": "1"}
    if stdin:
        query["stdin"] = "1"
    if detach_keys:
        query["detachKeys"] = detach_keys
    hijack.send(sock, "POST", f"/containers/{cid}/attach", query, upgrade=True)
    waiter = hijack.open_socket(api.host)
    hijack.send(waiter, "POST", f"/containers/{cid}/wait", {"condition": condition}, upgrade=False)
    attached = wire.Response(sock, "POST")
    if attached.status not in (101, 200):
        waiter.close()
        raise hijack.error_of(attached)
    attachment = hijack.Attachment(sock, attached.leftover(), tty=tty)
    waiting = wire.Response(waiter, "POST")
    if waiting.status != 200:
        sock.close()
        raise hijack.error_of(waiting)
    if start:
        try:
            _start(api, cid)
        except StartFailed:
            sock.close()
            waiter.close()
            raise
    with RawTerminal(api, f"/containers/{cid}/resize", tty and stdin):
        if stdin:
            keys = hijack.DETACH_KEYS if tty and not detach_keys else None
            attachment.pump_stdin(sys.stdin.buffer, keys)
        else:
            attachment.close_stdin()
        attachment.pump_output()
    if attachment.detached:
        return 0
    return _wait_result(waiter, waiting)


def _wait_result(sock: Any, waiting: Any) -> int:
    try:
        data = waiting.read()
    except ClientError:
        data = b""
    sock.close()
    try:
        result = jsontext.loads(data[data.index(b"{") : data.rindex(b"}") + 1])
    except ValueError as exc:
        raise ClientError("lost the connection while waiting for the container") from exc
    if result.get("Error"):
        raise ClientError(str(result["Error"].get("Message")))
    return int(result.get("StatusCode", 0))


# -- lifecycle ---------------------------------------------------------------------------


def _each(
    api: Transport, names: list[str], method: str, path: str, query: dict[str, str] | None = None
) -> int:
    """Docker's habit: act on each (at once, as the docker CLI does), print each name done,
    report failures, exit 1 if any. ``path`` has a ``{}`` for the container."""

    def one(name: str) -> str | None:
        own = Transport(api.host)  # one connection per thread
        try:
            own.request(method, path.format(name), query=query)
        except APIError as exc:
            return exc.message
        finally:
            own.close()
        return None

    from concurrent.futures import ThreadPoolExecutor  # only commands that need it pay for it

    with ThreadPoolExecutor(max_workers=min(10, len(names))) as pool:
        results = list(pool.map(one, names))
    failed = False
    for name, error in zip(names, results, strict=True):
        if error is None:
            output.line(name)
        else:
            output.error(f"Error response from daemon: {error}")
            failed = True
    return 1 if failed else 0


def start(args: flags.Namespace, api: Transport) -> int:
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise ClientError("you cannot start and attach multiple containers at once")
        info = api.get_json(f"/containers/{args.containers[0]}/json")
        return _attach_and_start(
            api,
            info["Id"],
            tty=bool(info["Config"]["Tty"]),
            stdin=args.interactive,
            condition="next-exit",
            detach_keys="",
            start=True,
        )
    return _each(api, args.containers, "POST", "/containers/{}/start")


def _stop_query(args: flags.Namespace) -> dict[str, str]:
    query = {}
    if args.time is not None:
        query["t"] = str(args.time)
    if args.signal:
        query["signal"] = args.signal
    return query


def stop(args: flags.Namespace, api: Transport) -> int:
    q = _stop_query(args)
    return _each(api, args.containers, "POST", "/containers/{}/stop", q)


def restart(args: flags.Namespace, api: Transport) -> int:
    q = _stop_query(args)
    return _each(api, args.containers, "POST", "/containers/{}/restart", q)


def kill(args: flags.Namespace, api: Transport) -> int:
    q = {"signal": args.signal}
    return _each(api, args.containers, "POST", "/containers/{}/kill", q)


def rm(args: flags.Namespace, api: Transport) -> int:
    q = {"force": "1" if args.force else "0", "v": "1" if args.volumes else "0"}
    return _each(api, args.containers, "DELETE", "/containers/{}", q)


def pause(args: flags.Namespace, api: Transport) -> int:
    return _each(api, args.containers, "POST", "/containers/{}/pause")


def unpause(args: flags.Namespace, api: Transport) -> int:
    return _each(api, args.containers, "POST", "/containers/{}/unpause")


def rename(args: flags.Namespace, api: Transport) -> int:
    api.request("POST", f"/containers/{args.container}/rename", query={"name": args.new_name})
    return 0


def wait(args: flags.Namespace, api: Transport) -> int:
    def one(name: str) -> None:
        _, data = api.request("POST", f"/containers/{name}/wait")
        output.line(str(jsontext.loads(data)["StatusCode"]))

    failed = False
    for name in args.containers:
        try:
            one(name)
        except APIError as exc:
            output.error(f"Error response from daemon: {exc.message}")
            failed = True
    return 1 if failed else 0


INSPECT_TYPES = ("container", "image", "network", "volume")


def _inspect_path(kind: str, name: str) -> str:
    quoted = urls.quote(name, safe="/:@" if kind == "image" else "")
    return {
        "container": f"/containers/{quoted}/json",
        "image": f"/images/{quoted}/json",
        "network": f"/networks/{quoted}",
        "volume": f"/volumes/{quoted}",
    }[kind]


def inspect(args: flags.Namespace, api: Transport) -> int:
    """Docker's order of search: a container, an image, a network, a volume of that name."""
    found: list[Any] = []
    failed = False
    kinds = [args.type] if args.type else list(INSPECT_TYPES)
    for name in args.objects:
        for kind in kinds:
            query = {"size": "1"} if args.size and kind == "container" else None
            try:
                found.append(api.get_json(_inspect_path(kind, name), query=query))
                break
            except NotFound:
                continue
        else:
            output.error(f"Error: No such {args.type or 'object'}: {name}")
            failed = True
    from client.cli import output_format  # only listings and inspect need the templates

    output_format.objects(args.format, found)
    return 1 if failed else 0


# -- ps, logs, attach --------------------------------------------------------------------


def _ps(args: flags.Namespace, api: Transport) -> int:
    """``ps`` with more than its switches (``client.cli.quick`` reads those alone)."""
    from client.cli import listings  # the listing's formats: ps only

    return listings.ps(args, api)


def logs(args: flags.Namespace, api: Transport) -> int:
    from client.cli.times import timestamp

    info = api.get_json(f"/containers/{args.container}/json")
    query = {
        "stdout": "1",
        "stderr": "1",
        "tail": args.tail,
        "follow": "1" if args.follow else "0",
        "timestamps": "1" if args.timestamps else "0",
    }
    for key in ("since", "until"):
        value = getattr(args, key)
        if value:
            query[key] = timestamp(value)
    sock = hijack.open_socket(api.host)
    response = hijack.request(sock, "GET", f"/containers/{info['Id']}/logs", query, upgrade=False)
    if response.status != 200:
        raise hijack.error_of(response)
    hijack.copy_output(response.chunks(), tty=bool(info["Config"]["Tty"]))
    return 0


def attach(args: flags.Namespace, api: Transport) -> int:
    info = api.get_json(f"/containers/{args.container}/json")
    if not info["State"]["Running"]:
        raise ClientError("You cannot attach to a stopped container, start it first")
    stdin = not args.no_stdin and bool(info["Config"]["OpenStdin"])
    return _attach_and_start(
        api,
        info["Id"],
        tty=bool(info["Config"]["Tty"]),
        stdin=stdin,
        condition="",
        detach_keys=args.detach_keys,
        start=False,
    )
