"""``estiba completion bash|zsh``: a completion script, and the hidden ``__complete`` it calls.

The script knows the commands and their flags already (they are written into it from the
parser when it is printed), so completing them costs nothing; only names of containers,
images, networks and volumes need the daemon, and for those the script runs
``estiba [-H host] __complete KIND``, which skips the parser and answers with one request.
zsh runs the same function through its ``bashcompinit`` layer.
"""

from __future__ import annotations

import sys

from client.cli import flags
from client.errors import ClientError
from client.transport import Transport, resolve_host

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

# what the positional words of a command name: KIND, or KIND1,KIND2 for "first, then the rest";
# a trailing "!" means only the first positional is completed (the rest is a command line)
POSITIONALS = {
    "start": "stopped", "stop": "running", "restart": "containers", "kill": "running",
    "rm": "containers", "logs": "containers", "attach": "running", "wait": "containers",
    "rename": "containers!", "pause": "running", "unpause": "containers",
    "inspect": "objects", "exec": "running!", "cp": "containers!", "diff": "containers",
    "commit": "containers!", "export": "containers", "top": "running!", "port": "containers!",
    "stats": "running", "run": "images!", "create": "images!", "push": "images",
    "rmi": "images", "tag": "images!", "history": "images", "save": "images",
    "volume inspect": "volumes", "volume rm": "volumes",
    "network inspect": "networks", "network rm": "networks",
    "network connect": "networks,containers", "network disconnect": "networks,containers",
    "completion": "shells",
}  # fmt: skip
# flags whose value is a name estiba knows
FLAG_VALUES = {
    "--network": "networks", "--net": "networks", "--volumes-from": "containers",
    "-v": "volumes", "--volume": "volumes", "--type": "types",
}  # fmt: skip


def register(sub: flags.Subcommands) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=["bash", "zsh"])
    p.set_defaults(run=script)


# -- names, for the script ------------------------------------------------------------------


def names(kind: str, api: Transport) -> list[str]:
    """The words a KIND completes to, from one request (two for ``objects``)."""
    if kind in ("containers", "running", "stopped"):
        query = {"all": "0" if kind == "running" else "1"}
        found = api.get_json("/containers/json", query=query)
        if kind == "stopped":
            found = [c for c in found if c.get("State") != "running"]
        return [n.lstrip("/") for c in found for n in c.get("Names") or []]
    if kind == "images":
        tags = [t for i in api.get_json("/images/json") for t in i.get("RepoTags") or []]
        return [t for t in tags if t != "<none>:<none>"]
    if kind == "networks":
        return [str(n["Name"]) for n in api.get_json("/networks")]
    if kind == "volumes":
        return [str(v["Name"]) for v in api.get_json("/volumes").get("Volumes") or []]
    if kind == "objects":
        return names("containers", api) + names("images", api)
    if kind == "shells":
        return ["bash", "zsh"]
    if kind == "types":
        return ["container", "image", "network", "volume"]
    return []


def complete(argv: list[str]) -> int:
    """``estiba [-H HOST] __complete KIND``: one name a line; nothing (and 0) on any failure,
    so a daemon that is down never spoils the user's prompt."""
    host = None
    words = list(argv)
    if words[:1] in (["-H"], ["--host"]) and len(words) > 1:
        host, words = words[1], words[2:]
    kind = words[1] if len(words) > 1 else ""
    api = Transport(resolve_host(host), timeout=2)
    try:
        sys.stdout.write("".join(name + "\n" for name in names(kind, api)))
    except (ClientError, OSError, ValueError, KeyError):
        pass
    finally:
        api.close()
    return 0


# -- the script ----------------------------------------------------------------------------


def _options(parser: flags.Parser) -> tuple[list[str], list[str]]:
    """All option strings of a parser, and those that take a value."""
    names: list[str] = []
    valued: list[str] = []
    for arg in parser.arguments:
        names += arg.option_strings
        if arg.takes_value:
            valued += arg.option_strings
    return names, valued


def _subparsers(parser: flags.Parser) -> dict[str, flags.Parser]:
    if parser.subcommands is None:
        return {}
    return {n: p for n, p in parser.subcommands.choices.items() if not n.startswith("_")}


def _tables() -> dict[str, Any]:
    from client.cli.parser import build_parser

    root = build_parser()
    commands = _subparsers(root)
    option_names: dict[str, list[str]] = {}
    valued: dict[str, list[str]] = {}
    verbs: dict[str, list[str]] = {}
    for name, parser in commands.items():
        option_names[name], valued[name] = _options(parser)
        subs = _subparsers(parser)
        if subs:
            verbs[name] = sorted(subs)
            for verb, verb_parser in subs.items():
                option_names[f"{name} {verb}"], valued[f"{name} {verb}"] = _options(verb_parser)
    return {"commands": sorted(commands), "flags": option_names, "valued": valued, "verbs": verbs}


def _assoc(name: str, table: dict[str, Any]) -> str:
    def words(value: Any) -> str:
        return " ".join(value) if isinstance(value, list) else str(value)

    items = " ".join(f'["{k}"]="{words(v)}"' for k, v in sorted(table.items()))
    return f"typeset -gA {name}\n{name}=({items})"


BASH_BODY = r"""
_estiba_complete() {
    [[ -n ${ZSH_VERSION:-} ]] && emulate -L ksh
    local line word key kind host="" cmd="" verb="" skip=0 npos=0 i cword
    local -a words
    if [[ -n ${COMP_LINE:-} ]]; then
        # whole words, as typed: bash would split busybox:latest at the colon
        line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
        set -f; words=($line); set +f
        [[ $line == *[[:space:]] || -z $line ]] && words+=("")
    else
        words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
    fi
    cword=$((${#words[@]} - 1))
    local cur=${words[cword]} prev=""
    ((cword > 0)) && prev=${words[cword - 1]}
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        if ((skip)); then skip=0; continue; fi
        if [[ -z $cmd ]]; then
            case $word in
                -H | --host) host=${words[i + 1]}; skip=1 ;;
                -*) ;;
                *) cmd=$word ;;
            esac
            continue
        fi
        key=$cmd${verb:+ $verb}
        if [[ $word == -* ]]; then
            [[ $word != *=* && " ${_estiba_valued[$key]} " == *" $word "* ]] && skip=1
            continue
        fi
        if [[ -z $verb && -n ${_estiba_verbs[$cmd]} ]]; then verb=$word; continue; fi
        ((npos++))
    done
    key=$cmd${verb:+ $verb}
    COMPREPLY=()
    if [[ -z $cmd ]]; then
        if [[ $prev == -H || $prev == --host ]]; then return 0; fi
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "-H --host --help" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_estiba_commands" -- "$cur"))
        fi
        return 0
    fi
    if [[ -z $verb && -n ${_estiba_verbs[$cmd]} ]]; then
        COMPREPLY=($(compgen -W "${_estiba_verbs[$cmd]}" -- "$cur"))
        return 0
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "${_estiba_flags[$key]}" -- "$cur"))
        return 0
    fi
    if [[ $prev == -* && " ${_estiba_valued[$key]} " == *" $prev "* ]]; then
        kind=${_estiba_flag_values[$prev]}
        [[ -z $kind ]] && return 0
    else
        kind=${_estiba_positionals[$key]}
        if [[ $kind == *! ]]; then
            ((npos > 0)) && return 0
            kind=${kind%!}
        fi
        if [[ $kind == *,* ]]; then
            ((npos == 0)) && kind=${kind%%,*} || kind=${kind#*,}
        fi
    fi
    [[ -z $kind ]] && return 0
    local -a hostflag=()
    [[ -n $host ]] && hostflag=(-H "$host")
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$(estiba "${hostflag[@]}" __complete "$kind" 2>/dev/null)" -- "$cur"))
    # bash replaces only what follows the last ':' of the word
    if [[ $cur == *:* && ${COMP_WORDBREAKS:-} == *:* ]]; then
        local trim=${cur%"${cur##*:}"}
        COMPREPLY=("${COMPREPLY[@]#"$trim"}")
    fi
    return 0
}
"""


def render(shell: str) -> str:
    tables = _tables()
    parts = [
        f'# estiba {shell} completion: eval "$(estiba completion {shell})" in your ~/.{shell}rc',
    ]
    if shell == "zsh":
        parts.append(
            "(( $+functions[compdef] )) || { autoload -Uz compinit && compinit; }\n"
            "autoload -U +X bashcompinit && bashcompinit"
        )
    parts += [
        f'_estiba_commands="{" ".join(tables["commands"])}"',
        _assoc("_estiba_verbs", tables["verbs"]),
        _assoc("_estiba_flags", tables["flags"]),
        _assoc("_estiba_valued", tables["valued"]),
        _assoc("_estiba_positionals", POSITIONALS),
        _assoc("_estiba_flag_values", FLAG_VALUES),
        BASH_BODY.strip(),
        "complete -F _estiba_complete estiba",
    ]
    return "\n".join(parts) + "\n"


def script(args: flags.Namespace, api: Transport) -> int:
    sys.stdout.write(render(args.shell))
    return 0
