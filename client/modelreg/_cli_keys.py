"""The ``modelreg keys`` commands: API keys of a project or of the server.

    TOKEN=$(modelreg keys create --project shop --role writer --expires 30d --owner trainer)
    modelreg keys list --project shop --all
    modelreg keys show mrk_abcdefghijkl --project shop
    modelreg keys revoke projects/shop/apiKeys/abcdefghijkl
    modelreg keys whoami
    modelreg keys bootstrap --database-url postgresql://...   # on the database, no server

``create`` prints the token alone on stdout (a summary goes to stderr): it is shown
this once.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from modelreg import _cli_format as fmt
from modelreg._key_types import ApiKey, CreatedApiKey
from modelreg._sync import Client

# cli._parser's helper: cmd(subparsers, name, help, handler, positionals, columns) -> parser.
Cmd = Callable[..., argparse.ArgumentParser]
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
ROLES = ("reader", "writer", "admin", "server-admin")


def expires(text: str) -> datetime | timedelta:
    """``--expires``: a duration from now (``90m``, ``12h``, ``30d``, ``2w``), a date
    (``2026-12-31``, midnight UTC) or an ISO 8601 time (UTC unless it says)."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration (30d, 12h, 90m, 2w), a date (2026-12-31) or an ISO 8601 "
            f"time, got {text!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _state(k: ApiKey) -> str:
    return k.state.value


KEY_COLUMNS: list[fmt.Column] = [
    ("PREFIX", lambda k: k.prefix),
    ("PROJECT", lambda k: k.project or "-"),
    ("ROLE", lambda k: k.role.value),
    ("OWNER", lambda k: k.owner[: fmt.MAX_CELL]),
    ("STATE", _state),
    ("EXPIRES", lambda k: "-" if k.expire_time is None else fmt.when(k.expire_time)),
    ("CREATED", lambda k: fmt.when(k.create_time)),
    ("DESCRIPTION", lambda k: k.description[: fmt.MAX_CELL]),
]


def summary(made: CreatedApiKey) -> str:
    k = made.key
    where = "the server" if k.project is None else f"project {k.project}"
    until = "never expires" if k.expire_time is None else f"expires {fmt.when(k.expire_time)}"
    return (
        f"made {k.role.value.lower()} key {k.prefix} of {where} for {k.owner}, {until}; "
        "the token above is not shown again"
    )


def _token(made: CreatedApiKey, args: argparse.Namespace) -> str:
    return made.token


# Handlers


def _create(c: Client, a: argparse.Namespace) -> CreatedApiKey:
    made = c.create_api_key(
        a.project,
        role=a.role,
        owner=a.owner,
        description=a.description,
        expires=a.expires,
        rate_limit=a.rate_limit,
    )
    print(summary(made), file=sys.stderr)
    return made


def _list(c: Client, a: argparse.Namespace) -> list[ApiKey]:
    return list(c.list_api_keys(a.project, show_inactive=a.all))


def _show(c: Client, a: argparse.Namespace) -> ApiKey:
    return c.get_api_key(a.key, a.project)


def _revoke(c: Client, a: argparse.Namespace) -> ApiKey:
    return c.revoke_api_key(a.key, a.project)


def _whoami(c: Client, a: argparse.Namespace) -> ApiKey:
    return c.caller_key()


def bootstrap_argv(args: argparse.Namespace) -> list[str]:
    """``keys bootstrap``'s options, as the server's ``modelreg keys`` reads them."""
    argv = ["keys", "bootstrap"]
    if args.database_url:
        argv += ["--database-url", args.database_url]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    if args.owner:
        argv += ["--owner", args.owner]
    if args.force:
        argv.append("--force")
    return argv


def _project(p: argparse.ArgumentParser, what: str) -> argparse.ArgumentParser:
    p.add_argument("--project", help=f"the project {what}; default: the server admin keys")
    return p


def add_group(group: Callable[[str, str], Any], cmd: Cmd) -> None:
    """The ``keys`` group."""
    sub = group("keys", "API keys: create, list, show, revoke; whoami; bootstrap")
    p = _project(cmd(sub, "create", "make a key; prints its token only", _create, ""), "it acts on")
    p.add_argument("--role", required=True, choices=ROLES, help="what it may do")
    p.add_argument(
        "--expires", type=expires, help="30d, 12h, 90m, 2w, 2026-12-31 or an ISO 8601 time"
    )
    p.add_argument("--description", default="", help="what it is for")
    p.add_argument("--owner", help="who or what uses it (default: you)")
    p.add_argument(
        "--rate-limit", type=float, default=0.0, metavar="N", help="requests/s; 0: the server's"
    )
    p.set_defaults(render=_token)
    p = _project(cmd(sub, "list", "list keys, newest first", _list, "", KEY_COLUMNS), "of the keys")
    p.add_argument("--all", action="store_true", help="also revoked and expired keys")
    what = "of a key given by prefix or id"
    _project(cmd(sub, "show", "show a key (NAME, or PREFIX with --project)", _show, "key"), what)
    _project(cmd(sub, "revoke", "revoke a key: refused from now on", _revoke, "key"), what)
    cmd(sub, "whoami", "the key this command calls with", _whoami, "")
    p = sub.add_parser(
        "bootstrap",
        help="make a server admin key on the database directly (no server); prints its token",
        description="Make a server admin key on the database directly (needs "
        "'modelreg[server]'); prints its token (only it) on stdout. Refused while an "
        "active server admin key exists, unless --force.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="postgresql:// URL; default: the embedded database")
    where.add_argument("--data-dir", help="the embedded PostgreSQL's data directory")
    p.add_argument("--owner", help="who holds the key (default: bootstrap)")
    p.add_argument("--force", action="store_true", help="even when a server admin key exists")
    p.set_defaults(server_argv=bootstrap_argv)
