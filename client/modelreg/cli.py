"""The ``modelreg`` command: the registry from a shell, and the server's entry point.

    modelreg projects create translate_kr2en --description "Korean to English"
    modelreg versions register translate_kr2en translate_kr2en \\
        --artifact-uri ./model/v1.pth --param lr=0.01 --architecture transformer-base
    modelreg aliases set translate_kr2en translate_kr2en production 1
    modelreg versions list translate_kr2en translate_kr2en --json
    modelreg runs list translate_kr2en            # the experiment table
    modelreg versions best translate_kr2en translate_kr2en --metric precision \\
        --dataset projects/translate_kr2en/datasets/test/versions/v1
    modelreg prod metrics translate_kr2en translate_kr2en --deployment prod --by version
    modelreg lineage projects/translate_kr2en/deployments/prod --depth 5   # a tree
    modelreg batches versions translate_kr2en 2024-11-06   # what learned from a batch
    modelreg keys create --project translate_kr2en --role writer --expires 30d
    modelreg serve                # needs 'modelreg[server]'

Client commands talk to ``--target`` (default ``$MODELREG_TARGET``, then
127.0.0.1:50051) through :class:`modelreg.Client`, with ``--api-key``
(``$MODELREG_API_KEY``; prefer the variable: arguments show in ``ps``) and, for TLS,
``--tls-ca``, ``--tls-cert`` and ``--tls-key`` (``$MODELREG_TLS_CA``,
``$MODELREG_CLIENT_CERT``, ``$MODELREG_CLIENT_KEY``). A failed call prints
``error: CODE: details`` to stderr and exits 1; bad usage exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from modelreg import _cli_deployments as deployments
from modelreg import _cli_format as fmt
from modelreg import _cli_keys as keys
from modelreg import _cli_lineage as lineage
from modelreg import _cli_pipelines as pipelines
from modelreg import _cli_prod as prod
from modelreg import _cli_tracking as tracking
from modelreg import _requests as names
from modelreg._errors import ModelregError
from modelreg._settings import DEFAULT_TARGET, default_target
from modelreg._sync import Client
from modelreg._types import (
    Alias,
    AliasEvent,
    CodeVersion,
    Model,
    ModelVersion,
    Project,
)

Handler = Callable[[Client, argparse.Namespace], Any]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
DEFAULT_TIMEOUT = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.group in ("serve", "db"):
        return _server([args.group, *extra])
    if args.group == "ui":
        return _ui([*_target_argv(args), *extra])
    if getattr(args, "server_argv", None) is not None:  # keys bootstrap: the database itself
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return _server(args.server_argv(args))
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    target = getattr(args, "target", None) or default_target()
    timeout = getattr(args, "timeout", None) or DEFAULT_TIMEOUT
    try:
        client = Client(
            target,
            timeout=timeout,
            api_key=getattr(args, "api_key", None),
            tls=getattr(args, "tls", False),
            tls_ca=getattr(args, "tls_ca", None),
            tls_cert=getattr(args, "tls_cert", None),
            tls_key=getattr(args, "tls_key", None),
        )
    except ValueError as exc:  # a bad key or TLS file: the message names the option
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with client:
            result = args.func(client, args)
    except ModelregError as exc:
        # The server's message usually starts with the field already.
        named = not exc.field or exc.details.startswith(f"{exc.field}:")
        where = "" if named else f" (field: {exc.field})"
        print(f"error: {exc.code.name}: {exc.details}{where}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        print(fmt.to_json(result))
    elif args.render is not None:
        print(args.render(result, args))
    elif isinstance(result, list):
        print(fmt.table(result, args.columns))
    else:
        print(fmt.detail(result))
    return 0


def _server(argv: list[str]) -> int:
    # Imported here: the client package must work (and import fast) without the server.
    try:
        from modelreg_server.__main__ import main as server_main
    except ImportError as exc:
        print(
            f"error: the modelreg server is not installed ({exc}): install 'modelreg[server]'",
            file=sys.stderr,
        )
        return 2
    return server_main(argv)


def _target_argv(args: argparse.Namespace) -> list[str]:
    # `modelreg --target X ui`: the option given before the command.
    return ["--target", args.target] if getattr(args, "target", None) else []


def _ui(argv: list[str]) -> int:
    # Imported here, like the server: the dashboard is the 'modelreg[ui]' extra.
    try:
        from modelreg_ui.__main__ import main as ui_main
    except ImportError as exc:
        print(
            f"error: the dashboard is not installed ({exc}): install 'modelreg[ui]'",
            file=sys.stderr,
        )
        return 2
    return ui_main(argv)


def _labels(args: argparse.Namespace) -> dict[str, str] | None:
    """The labels given with --label, or None (unchanged) when there were none."""
    return dict(args.label) if args.label else None


def _parent(args: argparse.Namespace) -> str | None:
    parent: str | None = args.parent
    if not parent or parent.startswith("projects/"):
        return parent or None
    return names.version_name(args.project, args.model, parent)


# Handlers: one per command, each returning what to print.


def _projects_create(c: Client, a: argparse.Namespace) -> Project:
    return c.create_project(a.name, description=a.description or "", labels=_labels(a))


def _projects_list(c: Client, a: argparse.Namespace) -> list[Project]:
    return list(c.list_projects(filter=a.filter, order_by=a.order_by))


def _projects_get(c: Client, a: argparse.Namespace) -> Project:
    return c.get_project(a.name)


def _projects_update(c: Client, a: argparse.Namespace) -> Project:
    return c.update_project(a.name, description=a.description, labels=_labels(a))


def _projects_delete(c: Client, a: argparse.Namespace) -> fmt.Deleted:
    c.delete_project(a.name, force=a.force)
    return fmt.Deleted(names.project_name(a.name))


def _models_create(c: Client, a: argparse.Namespace) -> Model:
    return c.create_model(a.project, a.name, description=a.description or "", labels=_labels(a))


def _models_list(c: Client, a: argparse.Namespace) -> list[Model]:
    return list(c.list_models(a.project, filter=a.filter, order_by=a.order_by))


def _models_get(c: Client, a: argparse.Namespace) -> Model:
    return c.get_model(a.project, a.name)


def _models_delete(c: Client, a: argparse.Namespace) -> fmt.Deleted:
    c.delete_model(a.project, a.name, force=a.force)
    return fmt.Deleted(names.model_name(a.project, a.name))


def _versions_register(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.register_model_version(
        a.project,
        a.model,
        artifact_uri=a.artifact_uri,
        artifact_sha256=a.sha256,
        artifact_size=a.size,
        artifact_format=a.format,
        architecture=a.architecture,
        architecture_config=a.architecture_config,
        params=dict(a.param or []),
        training_data=a.data or [],
        source_run=a.source_run,
        code_version=CodeVersion(a.code_repo, a.code_commit, a.code_dirty),
        parent_version=_parent(a),
        labels=_labels(a),
        description=a.description or "",
    )


def _versions_list(c: Client, a: argparse.Namespace) -> list[ModelVersion]:
    versions = c.list_model_versions(
        a.project, a.model, filter=a.filter, order_by=a.order_by, show_deleted=a.show_deleted
    )
    return list(versions)


def _versions_get(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.get_model_version(a.project, a.model, a.version)


def _versions_update(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.update_model_version(
        a.project, a.model, a.version, description=a.description, labels=_labels(a)
    )


def _versions_archive(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.archive_model_version(a.project, a.model, a.version)


def _versions_restore(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.restore_model_version(a.project, a.model, a.version)


def _versions_delete(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.delete_model_version(a.project, a.model, a.version)


def _aliases_set(c: Client, a: argparse.Namespace) -> Alias:
    return c.set_alias(a.project, a.model, a.alias, a.version, reason=a.reason)


def _aliases_list(c: Client, a: argparse.Namespace) -> list[Alias]:
    return c.list_aliases(a.project, a.model)


def _aliases_delete(c: Client, a: argparse.Namespace) -> fmt.Deleted:
    c.delete_alias(a.project, a.model, a.alias, reason=a.reason)
    return fmt.Deleted(names.alias_name(a.project, a.model, a.alias))


def _aliases_history(c: Client, a: argparse.Namespace) -> list[AliasEvent]:
    return c.alias_history(a.project, a.model, a.alias)


def _aliases_rollback(c: Client, a: argparse.Namespace) -> Alias:
    return c.rollback_alias(a.project, a.model, a.alias, reason=a.reason)


# The parser.


def _global_options() -> argparse.ArgumentParser:
    # SUPPRESS: the options are accepted before the command and after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--target",
        default=argparse.SUPPRESS,
        help=f"server host:port (default: $MODELREG_TARGET, then {DEFAULT_TARGET})",
    )
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON, not tables"
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS,
        help=f"deadline of each call in seconds (default {DEFAULT_TIMEOUT:g})",
    )
    common.add_argument(
        "--api-key",
        default=argparse.SUPPRESS,
        help="API key sent with every call (default: $MODELREG_API_KEY, which ps does not show)",
    )
    common.add_argument(
        "--tls",
        action="store_true",
        default=argparse.SUPPRESS,
        help="use TLS with the system's root certificates (implied by the --tls-* options)",
    )
    common.add_argument(
        "--tls-ca",
        default=argparse.SUPPRESS,
        metavar="PEM",
        help="CA bundle to verify the server with: use TLS (default: $MODELREG_TLS_CA)",
    )
    common.add_argument(
        "--tls-cert",
        default=argparse.SUPPRESS,
        metavar="PEM",
        help="client certificate for mutual TLS, with --tls-key (default: $MODELREG_CLIENT_CERT)",
    )
    common.add_argument(
        "--tls-key",
        default=argparse.SUPPRESS,
        metavar="PEM",
        help="private key of --tls-cert (default: $MODELREG_CLIENT_KEY)",
    )
    return common


def _describing(p: argparse.ArgumentParser, update: bool = False) -> argparse.ArgumentParser:
    p.add_argument("--description", help="free text")
    what = "replaces all labels" if update else "repeat for more"
    p.add_argument(
        "--label", action="append", type=fmt.key_value, metavar="K=V", help=f"a label; {what}"
    )
    return p


def _listing(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument(
        "--filter",
        default="",
        help='e.g. \'labels.team = "nlp" AND create_time > "2026-01-01T00:00:00Z"\'',
    )
    p.add_argument("--order-by", default="", help="a field, optionally followed by ' desc'")
    return p


def _reason(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--reason", default="", help="why (kept in the alias history)")
    return p


def _register_options(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("--artifact-uri", required=True, metavar="URI", help="where the weights are")
    add("--sha256", default="", help="the artifact's SHA-256, 64 hex digits")
    add("--size", type=int, default=0, help="the artifact's size in bytes")
    add("--format", default="", help="the artifact's format, e.g. pytorch, onnx")
    add("--architecture", default="", metavar="NAME", help="e.g. transformer-base")
    add("--architecture-config", type=fmt.json_object, metavar="JSON", help="a JSON object")
    add(
        "--param",
        action="append",
        type=fmt.param,
        metavar="K=V",
        help="a hyperparameter (repeat); int, float, true/false, else a string",
    )
    add(
        "--data",
        action="append",
        type=fmt.data_ref,
        metavar="DATASET:VERSION[:ROLE]",
        help="a dataset version it was trained on (repeat), as DATASET:VERSION or "
        "projects/P/datasets/D/versions/V, either followed by :ROLE; "
        "ROLE: train (default), validation, test",
    )
    add("--source-run", default="", help="the training run that produced it")
    add("--code-repo", default="", help="repository of the training code")
    add("--code-commit", default="", help="commit of the training code")
    add("--code-dirty", action="store_true", help="the code had uncommitted changes")
    add(
        "--parent",
        metavar="VERSION",
        help="fine-tuned from: a version number or alias of "
        "this model, or a full projects/P/models/M/versions/N name",
    )
    _describing(p)


def _parser() -> argparse.ArgumentParser:
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="modelreg",
        description="A model version registry: projects, models, versions and aliases; "
        "datasets, runs and evaluations; deployments, pipelines, batches and lineage; "
        "API keys.",
        parents=[common],
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    groups.add_parser("serve", add_help=False, help="run the server ('modelreg serve --help')")
    groups.add_parser("db", add_help=False, help="database administration ('modelreg db upgrade')")
    groups.add_parser("ui", add_help=False, help="serve the web dashboard ('modelreg ui --help')")

    def group(name: str, help: str) -> Commands:
        return groups.add_parser(name, help=help, description=help).add_subparsers(
            dest="command", required=True, metavar="COMMAND"
        )

    def cmd(
        sub: Commands,
        name: str,
        help: str,
        func: Handler,
        positionals: str,
        columns: list[fmt.Column] | None = None,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        for arg in positionals.split():
            p.add_argument(arg, metavar=arg.upper())
        p.set_defaults(func=func, columns=columns, render=None)
        return p

    pm, pmv, pma = "project model", "project model version", "project model alias"
    sub = group("projects", "create, list, show, update and delete projects")
    _describing(cmd(sub, "create", "create a project", _projects_create, "name"))
    _listing(cmd(sub, "list", "list projects", _projects_list, "", fmt.PROJECT_COLUMNS))
    cmd(sub, "get", "show a project", _projects_get, "name")
    _describing(cmd(sub, "update", "change description or labels", _projects_update, "name"), True)
    cmd(sub, "delete", "delete a project", _projects_delete, "name").add_argument(
        "--force", action="store_true", help="also delete its models and versions"
    )

    sub = group("models", "create, list, show and delete models")
    _describing(cmd(sub, "create", "create a model", _models_create, "project name"))
    _listing(
        cmd(sub, "list", "list a project's models", _models_list, "project", fmt.MODEL_COLUMNS)
    )
    cmd(sub, "get", "show a model", _models_get, "project name")
    cmd(sub, "delete", "delete a model", _models_delete, "project name").add_argument(
        "--force", action="store_true", help="also delete its versions, aliases and history"
    )

    sub = group(
        "versions",
        "register, list, show, update, archive, restore, delete, compare and rank versions",
    )
    _register_options(
        cmd(
            sub,
            "register",
            "register the next version (the model is created if needed)",
            _versions_register,
            pm,
        )
    )
    _listing(
        cmd(sub, "list", "list a model's versions", _versions_list, pm, fmt.VERSION_COLUMNS)
    ).add_argument("--show-deleted", action="store_true", help="include deleted versions")
    cmd(sub, "get", "show a version by number, alias or 'latest'", _versions_get, pmv)
    _describing(cmd(sub, "update", "change description or labels", _versions_update, pmv), True)
    cmd(sub, "archive", "archive a version", _versions_archive, pmv)
    cmd(sub, "restore", "make an archived or deleted version READY", _versions_restore, pmv)
    cmd(sub, "delete", "soft-delete a version; its number is never reused", _versions_delete, pmv)
    tracking.add_version_commands(sub, cmd)

    sub = group("aliases", "set, list, delete and roll back aliases; show their history")
    _reason(cmd(sub, "set", "point an alias at a version or alias", _aliases_set, pma + " version"))
    cmd(sub, "list", "list a model's aliases", _aliases_list, pm, fmt.ALIAS_COLUMNS)
    _reason(cmd(sub, "delete", "delete an alias", _aliases_delete, pma))
    cmd(
        sub,
        "history",
        "every move of an alias, newest first",
        _aliases_history,
        pma,
        fmt.EVENT_COLUMNS,
    )
    _reason(
        cmd(
            sub,
            "rollback",
            "move an alias back to where it was before its last move",
            _aliases_rollback,
            pma,
        )
    )
    lineage.add_commands(groups, group, cmd)
    tracking.add_groups(group, cmd)
    deployments.add_group(group, cmd)
    prod.add_groups(group, cmd)
    pipelines.add_group(group, cmd)
    keys.add_group(group, cmd)
    return parser


if __name__ == "__main__":
    sys.exit(main())
