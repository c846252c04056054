"""``ps`` and ``images``: the two listings people and scripts run most.

They import only what their default output needs (``client.cli.quick`` runs them without
building the full parser); a ``--format`` beyond a plain table of fields brings in the template
engine.
Arguments are the parser's namespace, or ``quick``'s object with the same attributes.
"""

from __future__ import annotations

from client import jsontext
from client.cli import output, output_format, output_rows

TYPE_CHECKING = False  # typing costs milliseconds of every command's start-up
if TYPE_CHECKING:
    from typing import Any

    from client.transport import Transport


def ps(args: Any, api: Transport) -> int:
    query = {"all": "1" if args.all else "0", **output.filter_query(args.filter)}
    limit = 1 if args.latest else args.last
    if limit > 0:  # docker's -n and -l count stopped containers too
        query["limit"] = str(limit)
        query["all"] = "1"
    if args.size:
        query["size"] = "1"
    containers = api.get_json("/containers/json", query=query)
    if args.quiet:
        for c in containers:
            output.line(c["Id"] if args.no_trunc else c["Id"][:12])
        return 0
    rows = [output_rows.container(c, no_trunc=args.no_trunc) for c in containers]
    default = output_rows.DEFAULT_PS + ("\t{{.Size}}" if args.size else "")
    output_format.rows(args.format, rows, default, {"ID": "CONTAINER ID"})
    return 0


def images(args: Any, api: Transport) -> int:
    filters = output.filters(args.filter)
    if args.reference:
        filters.setdefault("reference", []).append(args.reference)
    query = {"all": "1" if args.all else "0"}
    if filters:
        query["filters"] = jsontext.dumps(filters)
    found: list[dict[str, Any]] = api.get_json("/images/json", query=query)
    if args.quiet:
        for image in found:
            output.line(output_rows.short_id(image["Id"], args.no_trunc))
        return 0
    rows = [row for i in found for row in output_rows.images(i, no_trunc=args.no_trunc)]
    default = output_rows.DEFAULT_IMAGES
    if args.digests:
        default = default.replace("{{.Tag}}", "{{.Tag}}\t{{.Digest}}")
    output_format.rows(args.format, rows, default, {"ID": "IMAGE ID"})
    return 0
