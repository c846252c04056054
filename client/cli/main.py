"""``estiba``: parse the command line, run one command, map failures to Docker's exit codes.

Exit codes, as docker's: the command's own code on success or a container's code for ``run``;
125 when estiba itself fails (bad usage, cannot connect, an error from the daemon), 126 when a
container's command cannot be invoked and 127 when it is not found, with one line on stderr
and no traceback.

A command line of ``ps`` or ``images`` with only their switches is read by
``client.cli.quick``; every other by ``client.cli.parser``.
"""

from __future__ import annotations

import os
import sys

from client.cli import output, quick
from client.errors import ClientError
from client.transport import Transport, resolve_host

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from signal import SIG_DFL, SIGPIPE
    from signal import signal as set_signal
    from typing import Any
else:  # the C module: signal's own wraps the constants in enums (enum costs 2 ms to import)
    from _signal import SIG_DFL, SIGPIPE
    from _signal import signal as set_signal

EXIT_ESTIBA_ERROR = 125


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    set_signal(SIGPIPE, SIG_DFL)  # `estiba ps | head` ends quietly
    listing = quick.parse(argv)
    if listing is not None:
        args, run = listing
    else:
        args, run = _parse(argv)
    api = Transport(resolve_host(args.host))
    try:
        code = run(args, api)
    except ClientError as exc:
        output.error(f"estiba: {exc}")
        code = getattr(exc, "exit_code", EXIT_ESTIBA_ERROR)  # 126/127: a command that cannot run
    except OSError as exc:  # a local file or the terminal: still one line, no traceback
        output.error(
            f"estiba: {exc.strerror or exc}: {exc.filename}" if exc.filename else f"estiba: {exc}"
        )
        code = EXIT_ESTIBA_ERROR
    except KeyboardInterrupt:
        code = 130
    finally:
        api.close()
    _leave(code)


def _leave(code: int) -> None:
    """Exit with ``code`` once the output is flushed, skipping the interpreter's teardown
    (freeing every module and object: about 5 ms of every command). Nothing the CLI does
    needs it: no atexit handler, only daemon threads, files closed by their ``with``."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # a reader that went away: as docker, no complaint
        pass
    os._exit(code)


def _parse(argv: list[str]) -> tuple[Any, Any]:
    """The full parser's reading of ``argv``: the arguments and the command's function."""
    from client.cli.parser import build_parser, command_of

    command = command_of(argv)
    if command == "__complete":  # names for shell completion: no parser, one request
        from client.cli.completion import complete

        sys.exit(complete(argv))
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors exit 2, as argparse's; docker's exit 125
        sys.exit(EXIT_ESTIBA_ERROR if exc.code == 2 else exc.code)
    if not getattr(args, "run", None):
        parser.print_help()
        sys.exit(0)
    return args, args.run
