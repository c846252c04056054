"""The flags of ``estiba run`` and ``estiba create``, turned into Docker's create body."""

from __future__ import annotations

import os

from client.cli import flags
from client.errors import ClientError

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

# patterns, compiled by re on first use: most runs use neither, and re costs 5 ms to import
DURATION_RE = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
DURATION_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
SIZE_RE = r"(?i)^(\d+(?:\.\d+)?)([bkmg]?)b?$"
UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def add_create_flags(p: flags.Parser) -> None:
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    p.add_argument("--name", default="", help="the container's name")
    p.add_argument("-e", "--env", action="append", default=[], help="set an environment variable")
    p.add_argument("--env-file", action="append", default=[], help="read variables from a file")
    p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
    p.add_argument("-u", "--user", default="", help="user[:group] to run as")
    p.add_argument("--entrypoint", default=None, help="override the image's entrypoint")
    p.add_argument("-h", "--hostname", default="", help="the container's host name")
    p.add_argument("-l", "--label", action="append", default=[], help="set a label k=v")
    p.add_argument("--init", action="store_true", help="run an init as PID 1")
    p.add_argument("--restart", default="no", help="no, always, unless-stopped, on-failure[:N]")
    p.add_argument("-m", "--memory", default="", help="memory limit (e.g. 64m)")
    p.add_argument("--cpus", default="", help="number of CPUs (e.g. 1.5)")
    p.add_argument("--pids-limit", type=int, default=0, help="process limit")
    p.add_argument("--read-only", action="store_true", help="mount the root read-only")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs: /path[:opts]")
    p.add_argument(
        "-v", "--volume", action="append", default=[], help="bind or volume src:dst[:ro]"
    )
    p.add_argument(
        "--network",
        "--net",
        default="",
        help="bridge, none, host, a network's name, or container:<name|id> (another's)",
    )
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--stop-signal", default="", help="signal that stops the container")
    p.add_argument("--stop-timeout", type=int, default=None, help="seconds before SIGKILL")
    p.add_argument("--security-opt", action="append", default=[], help="e.g. no-new-privileges")
    p.add_argument(
        "-p",
        "--publish",
        action="append",
        default=[],
        help="publish a port: [ip:][host port:]container port[/tcp|udp]",
    )
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every exposed port")
    p.add_argument("--ip", default="", help="a fixed address on a user-defined network")
    p.add_argument("--network-alias", action="append", default=[], help="another DNS name")
    p.add_argument("--expose", action="append", default=[], help="expose a port")
    p.add_argument("--node", default="", help="the node to run on (see estiba node ls)")
    add_health_flags(p)
    p.add_argument("image", help="the image")
    p.add_argument("command", nargs=flags.REMAINDER, help="the command and its arguments")


def add_health_flags(p: flags.Parser) -> None:
    p.add_argument("--health-cmd", default="", help="command that checks the container's health")
    p.add_argument("--health-interval", default="", help="time between checks (e.g. 30s)")
    p.add_argument("--health-timeout", default="", help="time a check may take (e.g. 30s)")
    p.add_argument("--health-retries", type=int, default=0, help="failures before unhealthy")
    p.add_argument("--health-start-period", default="", help="grace time after start")
    p.add_argument("--health-start-interval", default="", help="time between early checks")
    p.add_argument("--no-healthcheck", action="store_true", help="disable the image's check")


def duration(text: str, flag: str) -> int:
    """Go's duration syntax ("1m30s", "500ms", "2s"), as docker's flags take it, in ns."""
    if text == "0":
        return 0
    import re  # compiled on first use: most runs have no duration to read

    parts = re.findall(DURATION_RE, text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ClientError(f"invalid argument {text!r} for {flag}: time: invalid duration")
    return int(sum(float(n) * DURATION_UNITS[u] for n, u in parts))


def healthcheck(args: flags.Namespace) -> dict[str, Any] | None:
    """Config.Healthcheck from the --health-* flags; None when none was given."""
    durations = {
        "Interval": ("--health-interval", args.health_interval),
        "Timeout": ("--health-timeout", args.health_timeout),
        "StartPeriod": ("--health-start-period", args.health_start_period),
        "StartInterval": ("--health-start-interval", args.health_start_interval),
    }
    given = args.health_cmd or args.health_retries or any(v for _, v in durations.values())
    if args.no_healthcheck:
        if given:
            raise ClientError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    check: dict[str, Any] = {"Test": ["CMD-SHELL", args.health_cmd] if args.health_cmd else []}
    for key, (flag, text) in durations.items():
        value = duration(text, flag) if text else 0
        if value < 0:
            raise ClientError(f"{flag} cannot be negative")
        check[key] = value
    if args.health_retries < 0:
        raise ClientError("--health-retries cannot be negative")
    check["Retries"] = args.health_retries
    return check


def size(text: str) -> int:
    import re

    match = re.match(SIZE_RE, text.strip())
    if not match:
        raise ClientError(f"invalid size: {text!r}")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def _env(args: flags.Namespace) -> list[str]:
    env: list[str] = []
    for path in args.env_file:
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except OSError as exc:
            raise ClientError(f"cannot read env file {path}: {exc.strerror}") from exc
        env += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    env += args.env
    out = []
    for item in env:  # "NAME" alone takes the value from the caller's environment
        if "=" not in item:
            if item in os.environ:
                out.append(f"{item}={os.environ[item]}")
            continue
        out.append(item)
    return out


def _restart(text: str) -> dict[str, Any]:
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise ClientError(f"invalid restart policy {text!r}")
    if count and (name != "on-failure" or not count.isdigit()):
        raise ClientError(f"invalid restart policy {text!r}")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def _binds(volumes: list[str]) -> list[str]:
    binds = []
    for spec in volumes:
        parts = spec.split(":")
        if len(parts) == 1:
            raise ClientError(f"anonymous volumes are not supported yet: {spec!r}")
        source = parts[0]
        if source.startswith((".", "~")) or "/" in source:
            source = os.path.abspath(os.path.expanduser(source))
        binds.append(":".join([source, *parts[1:]]))
    return binds


def create_body(args: flags.Namespace) -> dict[str, Any]:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    host: dict[str, Any] = {
        "AutoRemove": args.rm,
        "NetworkMode": args.network or "default",
        "RestartPolicy": _restart(args.restart),
        "Binds": _binds(args.volume),
        "Tmpfs": dict(_tmpfs(t) for t in args.tmpfs),
        "ReadonlyRootfs": args.read_only,
        "Init": args.init,
        "Memory": size(args.memory) if args.memory else 0,
        "NanoCpus": int(float(args.cpus) * 1e9) if args.cpus else 0,
        "PidsLimit": args.pids_limit,
        "SecurityOpt": args.security_opt,
    }
    if args.tty and sys_stdout_tty():
        cols, rows = os.get_terminal_size(1)  # shutil would cost every command 5 ms to import
        host["ConsoleSize"] = [rows, cols]
    body: dict[str, Any] = {
        "Image": args.image,
        "Cmd": command or None,
        "Env": _env(args),
        "WorkingDir": args.workdir,
        "User": args.user,
        "Hostname": args.hostname,
        "Labels": dict(_label(lb) for lb in args.label),
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive,
        "AttachStdin": args.interactive,
        "AttachStdout": True,
        "AttachStderr": True,
        "StopSignal": args.stop_signal,
        "ExposedPorts": {_port(p): {} for p in args.expose},
        "HostConfig": host,
    }
    if args.stop_timeout is not None:
        body["StopTimeout"] = args.stop_timeout
    if (check := healthcheck(args)) is not None:
        body["Healthcheck"] = check
    if args.entrypoint is not None:
        body["Entrypoint"] = [args.entrypoint] if args.entrypoint else []
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in args.publish:
        key, binding = _publish(spec)
        bindings.setdefault(key, []).append(binding)
        body["ExposedPorts"][key] = {}
    host["PortBindings"] = bindings
    host["PublishAllPorts"] = args.publish_all
    if args.ip or args.network_alias:
        network = args.network or "bridge"
        body["NetworkingConfig"] = {
            "EndpointsConfig": {
                network: {
                    "IPAMConfig": {"IPv4Address": args.ip} if args.ip else None,
                    "Aliases": args.network_alias,
                }
            }
        }
    return body


def _publish(spec: str) -> tuple[str, dict[str, str]]:
    """Docker's -p: [ip:][hostPort:]containerPort[/proto] → ("80/tcp", binding)."""
    port, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    parts = port.rsplit(":", 2)
    if protocol not in ("tcp", "udp") or not parts[-1].isdigit():
        raise ClientError(f"invalid port specification: {spec!r}")
    host_ip = parts[0] if len(parts) == 3 else ""
    host_port = parts[-2] if len(parts) >= 2 else ""
    if host_port and not host_port.isdigit():
        raise ClientError(f"invalid host port in {spec!r}")
    return f"{parts[-1]}/{protocol}", {"HostIp": host_ip, "HostPort": host_port}


def sys_stdout_tty() -> bool:
    return os.isatty(1)


def _tmpfs(text: str) -> tuple[str, str]:
    path, _, options = text.partition(":")
    return path, options


def _label(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key, value


def _port(text: str) -> str:
    return text if "/" in text else f"{text}/tcp"
