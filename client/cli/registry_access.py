"""``estiba registry user|team|robot|grant|anonymous|quota|retention|audit|key|ca``: who may use
the registry and what for, administered through the gateway."""

from __future__ import annotations

import getpass
import json
import re
import sys

from client import urls
from client.cli import flags, output
from client.errors import ClientError
from client.transport import Transport

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up

BASE = "/estiba/v1/registry"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)", re.IGNORECASE)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_UNITS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

if TYPE_CHECKING:
    from typing import Any

    Sub = flags.Subcommands


def parse_size(text: str) -> int:
    """``10GiB``, ``500MB``, ``1g``, ``0``: bytes (k, m, g, t, p are powers of 1024)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ClientError(f"invalid size {text!r}: a number with an optional k, m, g, t unit")
    return int(float(match[1]) * 1024 ** _UNITS[match[2].lower()])


def parse_duration(text: str) -> float:
    """``90s``, ``12h``, ``30d``, ``2w``, ``0`` (never): seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ClientError(f"invalid duration {text!r}: a number with s, m, h, d or w")
    return float(match[1]) * _SECONDS[match[2]]


def _q(name: str) -> str:
    return urls.quote(name, safe="")


def _call(api: Transport, method: str, path: str, body: Any = None, **query: str) -> Any:
    _, data = api.request(method, BASE + path, body=body, versioned=False, query=query or None)
    return json.loads(data) if data else {}


def _password(args: flags.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password:
        return str(args.password)
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise ClientError("the passwords differ")
    return first


def _json_or(args: flags.Namespace, data: Any) -> bool:
    if getattr(args, "format", None) == "json":
        output.line(json.dumps(data, indent=2))
        return True
    return False


def register(verbs: Sub) -> None:
    _users(verbs)
    _teams(verbs)
    _robots(verbs)
    _grants(verbs)
    _quota_retention_audit(verbs)


# -- users --------------------------------------------------------------------------------------


def _users(verbs: Sub) -> None:
    u = verbs.add_parser("user", help="registry users").add_subparsers(dest="op", required=True)
    v = u.add_parser("ls", help="list users")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=user_ls)
    v = u.add_parser("add", help="create a user (the password is asked for)")
    v.add_argument("name")
    v.add_argument("--admin", action="store_true", help="a registry administrator")
    _password_flags(v)
    v.set_defaults(run=user_add)
    v = u.add_parser("passwd", help="change a user's password")
    v.add_argument("name")
    _password_flags(v)
    v.set_defaults(run=user_passwd)
    v = u.add_parser("admin", help="make a user an administrator, or not")
    v.add_argument("name")
    v.add_argument("state", choices=["on", "off"])
    v.set_defaults(run=user_admin)
    v = u.add_parser("rm", help="delete a user")
    v.add_argument("name")
    v.set_defaults(run=user_rm)


def _password_flags(p: flags.Parser) -> None:
    p.add_argument("-p", "--password", default="")
    p.add_argument("--password-stdin", action="store_true")


def user_ls(args: flags.Namespace, api: Transport) -> int:
    data = _call(api, "GET", "/users")
    if not _json_or(args, data):
        rows = [[u["name"], "yes" if u["admin"] else "", ",".join(u["teams"]), u["created_at"]]
                for u in data["users"]]  # fmt: skip
        output.table(["NAME", "ADMIN", "TEAMS", "CREATED"], rows)
    return 0


def user_add(args: flags.Namespace, api: Transport) -> int:
    body = {"name": args.name, "password": _password(args), "admin": args.admin}
    _call(api, "POST", "/users", body)
    output.line(f"user {args.name} created" + (" (administrator)" if args.admin else ""))
    return 0


def user_passwd(args: flags.Namespace, api: Transport) -> int:
    _call(api, "POST", f"/users/{_q(args.name)}/password", {"password": _password(args)})
    output.line(f"password of {args.name} changed")
    return 0


def user_admin(args: flags.Namespace, api: Transport) -> int:
    _call(api, "POST", f"/users/{_q(args.name)}/admin", {"admin": args.state == "on"})
    output.line(f"{args.name} is {'now' if args.state == 'on' else 'no longer'} an administrator")
    return 0


def user_rm(args: flags.Namespace, api: Transport) -> int:
    _call(api, "DELETE", f"/users/{_q(args.name)}")
    output.line(f"user {args.name} deleted")
    return 0


# -- teams --------------------------------------------------------------------------------------


def _teams(verbs: Sub) -> None:
    t = verbs.add_parser("team", help="teams and members").add_subparsers(dest="op", required=True)
    v = t.add_parser("ls", help="list teams with members, quota and usage")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=team_ls)
    v = t.add_parser("add", help="create a team (its repositories are TEAM/...)")
    v.add_argument("name")
    v.set_defaults(run=team_add)
    v = t.add_parser("rm", help="delete a team with its members, robots and grants")
    v.add_argument("name")
    v.set_defaults(run=team_rm)
    v = t.add_parser("add-member", help="add a user to a team (or change its role)")
    v.add_argument("team")
    v.add_argument("user")
    v.add_argument("--role", choices=["member", "admin"], default="member")
    v.set_defaults(run=team_add_member)
    v = t.add_parser("rm-member", help="remove a user from a team")
    v.add_argument("team")
    v.add_argument("user")
    v.set_defaults(run=team_rm_member)


def _quota_text(t: dict[str, Any]) -> str:
    used = output.human_bytes(int(t["used_bytes"]))
    quota = int(t["quota_bytes"])
    return f"{used} / {output.human_bytes(quota)}" if quota else f"{used} / -"


def team_ls(args: flags.Namespace, api: Transport) -> int:
    data = _call(api, "GET", "/teams")
    if not _json_or(args, data):
        rows = [
            [t["name"], ",".join(f"{m['user']}({m['role']})" if m["role"] == "admin" else m["user"]
                                 for m in t["members"]), _quota_text(t)]
            for t in data["teams"]
        ]  # fmt: skip
        output.table(["NAME", "MEMBERS", "USED / QUOTA"], rows)
    return 0


def team_add(args: flags.Namespace, api: Transport) -> int:
    _call(api, "POST", "/teams", {"name": args.name})
    output.line(f"team {args.name} created")
    return 0


def team_rm(args: flags.Namespace, api: Transport) -> int:
    _call(api, "DELETE", f"/teams/{_q(args.name)}")
    output.line(f"team {args.name} deleted")
    return 0


def team_add_member(args: flags.Namespace, api: Transport) -> int:
    _call(api, "PUT", f"/teams/{_q(args.team)}/members/{_q(args.user)}", {"role": args.role})
    output.line(f"{args.user} is a {args.role} of {args.team}")
    return 0


def team_rm_member(args: flags.Namespace, api: Transport) -> int:
    _call(api, "DELETE", f"/teams/{_q(args.team)}/members/{_q(args.user)}")
    output.line(f"{args.user} removed from {args.team}")
    return 0


# -- robots -------------------------------------------------------------------------------------


def _robots(verbs: Sub) -> None:
    r = verbs.add_parser("robot", help="robot accounts for CI").add_subparsers(
        dest="op", required=True
    )
    v = r.add_parser("ls", help="list robots")
    v.add_argument("--team", default="")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=robot_ls)
    v = r.add_parser("add", help="create a robot of a team; prints its secret once")
    v.add_argument("team")
    v.add_argument("name")
    v.add_argument("--expires", default="0", help="lifetime: 90s, 12h, 30d, 2w; 0 for never")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=robot_add)
    v = r.add_parser("revoke", help="stop a robot's secret and tokens at once")
    v.add_argument("name", help="TEAM+NAME")
    v.set_defaults(run=robot_revoke)
    v = r.add_parser("rm", help="delete a robot")
    v.add_argument("name", help="TEAM+NAME")
    v.set_defaults(run=robot_rm)


def robot_ls(args: flags.Namespace, api: Transport) -> int:
    data = _call(api, "GET", "/robots", **({"team": args.team} if args.team else {}))
    if not _json_or(args, data):
        rows = [[r["name"], r["created_at"], r["expires_at"] or "never",
                 "revoked " + r["revoked_at"] if r["revoked_at"] else ""]
                for r in data["robots"]]  # fmt: skip
        output.table(["NAME", "CREATED", "EXPIRES", "STATE"], rows)
    return 0


def robot_add(args: flags.Namespace, api: Transport) -> int:
    body = {"team": args.team, "name": args.name, "ttl_seconds": parse_duration(args.expires)}
    data = _call(api, "POST", "/robots", body)
    if not _json_or(args, data):
        robot = data["robot"]
        output.line(f"robot {robot['name']} created; expires {robot['expires_at'] or 'never'}")
        output.line(f"secret (shown only now): {data['secret']}")
        output.line(f"log in with: estiba login -u '{robot['name']}' --password-stdin <registry>")
    return 0


def robot_revoke(args: flags.Namespace, api: Transport) -> int:
    _call(api, "POST", f"/robots/{_q(args.name)}/revoke")
    output.line(f"robot {args.name} revoked")
    return 0


def robot_rm(args: flags.Namespace, api: Transport) -> int:
    _call(api, "DELETE", f"/robots/{_q(args.name)}")
    output.line(f"robot {args.name} deleted")
    return 0


# -- grants and anonymous pull ------------------------------------------------------------------


def _subject(text: str) -> tuple[str, str]:
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("user", "team", "robot") or not name:
        raise ClientError(f"a subject is user:NAME, team:NAME or robot:TEAM+NAME, not {text!r}")
    return kind, name


def _grants(verbs: Sub) -> None:
    g = verbs.add_parser("grant", help="who may do what on which repositories").add_subparsers(
        dest="op", required=True
    )
    v = g.add_parser("ls", help="list grants")
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=grant_ls)
    v = g.add_parser("set", help="give SUBJECT exactly ACTIONS on PATTERN")
    v.add_argument("subject", help="user:NAME, team:NAME or robot:TEAM+NAME")
    v.add_argument("pattern", help="a repository name; * within a component, ** across them")
    v.add_argument("actions", help="comma-separated: pull, push, overwrite, delete")
    v.set_defaults(run=grant_set)
    v = g.add_parser("rm", help="remove SUBJECT's grant on PATTERN")
    v.add_argument("subject")
    v.add_argument("pattern")
    v.set_defaults(run=grant_rm)
    a = verbs.add_parser("anonymous", help="repositories anyone may pull").add_subparsers(
        dest="op", required=True
    )
    v = a.add_parser("ls", help="list the patterns anyone may pull")
    v.set_defaults(run=anonymous_ls)
    for state in ("on", "off"):
        v = a.add_parser(state, help=f"anonymous pull {state} for PATTERN")
        v.add_argument("pattern")
        v.set_defaults(run=anonymous_set, enabled=state == "on")


def grant_ls(args: flags.Namespace, api: Transport) -> int:
    data = _call(api, "GET", "/grants")
    if not _json_or(args, data):
        rows = [[f"{g['subject_kind']}:{g['subject']}", g["pattern"], ",".join(g["actions"])]
                for g in data["grants"]]  # fmt: skip
        output.table(["SUBJECT", "PATTERN", "ACTIONS"], rows)
    return 0


def grant_set(args: flags.Namespace, api: Transport) -> int:
    kind, name = _subject(args.subject)
    grant = {"subject_kind": kind, "subject": name, "pattern": args.pattern,
             "actions": [a.strip() for a in args.actions.split(",") if a.strip()]}  # fmt: skip
    data = _call(api, "PUT", "/grants", {"grant": grant})
    output.line(f"{args.subject} may {','.join(data['grant']['actions'])} on {args.pattern}")
    return 0


def grant_rm(args: flags.Namespace, api: Transport) -> int:
    kind, name = _subject(args.subject)
    _call(api, "DELETE", "/grants", subject_kind=kind, subject=name, pattern=args.pattern)
    output.line(f"grant of {args.subject} on {args.pattern} removed")
    return 0


def anonymous_ls(args: flags.Namespace, api: Transport) -> int:
    for pattern in _call(api, "GET", "/anonymous-pull")["patterns"]:
        output.line(pattern)
    return 0


def anonymous_set(args: flags.Namespace, api: Transport) -> int:
    _call(api, "PUT", "/anonymous-pull", {"pattern": args.pattern, "enabled": args.enabled})
    output.line(f"anonymous pull {'on' if args.enabled else 'off'} for {args.pattern}")
    return 0


# -- quotas, retention, audit, signing key ------------------------------------------------------


def _quota_retention_audit(verbs: Sub) -> None:
    q = verbs.add_parser("quota", help="storage quotas of teams").add_subparsers(
        dest="op", required=True
    )
    v = q.add_parser("ls", help="usage and quota of every team")
    v.set_defaults(run=quota_ls)
    v = q.add_parser("set", help="limit a team's repositories to SIZE (0: no limit)")
    v.add_argument("team")
    v.add_argument("size", help="bytes, or with a unit: 500MiB, 10GiB")
    v.set_defaults(run=quota_set)
    r = verbs.add_parser("retention", help="which tags GC keeps").add_subparsers(
        dest="op", required=True
    )
    v = r.add_parser("ls", help="list retention rules")
    v.set_defaults(run=retention_ls)
    v = r.add_parser("set", help="keep the last N tags and/or those of the last D days")
    v.add_argument("pattern")
    v.add_argument("--keep-last", type=int, default=0)
    v.add_argument("--keep-days", type=float, default=0.0)
    v.set_defaults(run=retention_set)
    v = r.add_parser("rm", help="remove the rule of PATTERN")
    v.add_argument("pattern")
    v.set_defaults(run=retention_rm)
    v = verbs.add_parser("audit", help="logins, pushes, deletions, refusals, administration")
    v.add_argument("--since", default="", help="RFC 3339 time")
    v.add_argument("--actor", default="")
    v.add_argument("-n", "--limit", type=int, default=100)
    v.add_argument("--format", choices=["json"])
    v.set_defaults(run=audit)
    k = verbs.add_parser("key", help="the token signing key").add_subparsers(
        dest="op", required=True
    )
    v = k.add_parser("rotate", help="sign with a new key; tokens in flight stay valid")
    v.set_defaults(run=key_rotate)
    v = verbs.add_parser("ca", help="print the certificate HTTPS clients should trust")
    v.set_defaults(run=trusted_ca)


def quota_ls(args: flags.Namespace, api: Transport) -> int:
    teams = _call(api, "GET", "/teams")["teams"]
    output.table(["TEAM", "USED / QUOTA"], [[t["name"], _quota_text(t)] for t in teams])
    return 0


def quota_set(args: flags.Namespace, api: Transport) -> int:
    size = parse_size(args.size)
    _call(api, "PUT", f"/teams/{_q(args.team)}/quota", {"quota_bytes": size})
    shown = output.human_bytes(size) if size else "no limit"
    output.line(f"quota of {args.team}: {shown}")
    return 0


def retention_ls(args: flags.Namespace, api: Transport) -> int:
    rules = _call(api, "GET", "/retention")["rules"]
    output.table(
        ["PATTERN", "KEEP LAST", "KEEP DAYS"],
        [[r["pattern"], r["keep_last"] or "-", r["keep_days"] or "-"] for r in rules],
    )
    return 0


def retention_set(args: flags.Namespace, api: Transport) -> int:
    rule = {"pattern": args.pattern, "keep_last": args.keep_last, "keep_days": args.keep_days}
    _call(api, "PUT", "/retention", {"rule": rule})
    output.line(f"retention rule set on {args.pattern}; GC applies it (try gc --dry-run)")
    return 0


def retention_rm(args: flags.Namespace, api: Transport) -> int:
    _call(api, "DELETE", "/retention", pattern=args.pattern)
    output.line(f"retention rule of {args.pattern} removed")
    return 0


def audit(args: flags.Namespace, api: Transport) -> int:
    query = {"limit": str(args.limit)}
    if args.since:
        query["since"] = args.since
    if args.actor:
        query["actor"] = args.actor
    data = _call(api, "GET", "/audit", **query)
    if not _json_or(args, data):
        rows = [[e["at"], e["actor"], e["action"], e["target"], e["outcome"], e["address"],
                 e["detail"]] for e in data["entries"]]  # fmt: skip
        output.table(["TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "ADDRESS", "DETAIL"], rows)
    return 0


def key_rotate(args: flags.Namespace, api: Transport) -> int:
    kid = _call(api, "POST", "/signing-key/rotate")["kid"]
    output.line(f"tokens are now signed with key {kid}")
    return 0


def trusted_ca(args: flags.Namespace, api: Transport) -> int:
    _, data = api.request("GET", f"{BASE}/ca", versioned=False)
    sys.stdout.write(data.decode())
    return 0
