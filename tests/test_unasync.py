"""client/tools/unasync.py: what it rewrites, and that its check catches an async source
edited without regenerating (run on a temporary copy, never on the real tree)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "client" / "tools" / "unasync.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unasync = load_script()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("async def f(self) -> None:", "def f(self) -> None:"),
        ("    async with lock:", "    with lock:"),
        ("[x async for x in self.pages()]", "[x for x in self.pages()]"),
        ("return await self._rpc.call(m, r)", "return self._rpc.call(m, r)"),
        ("await (x)", "(x)"),
        ("async def __aenter__(self) -> AsyncClient:", "def __enter__(self) -> Client:"),
        ("def __aexit__(", "def __exit__("),
        ("-> AsyncIterator[Project]:", "-> Iterator[Project]:"),
        ("class AsyncAliases:", "class Aliases:"),
        ("_rpc: AsyncRPC", "_rpc: RPC"),
        ("from modelreg._async._rpc import AsyncRPC", "from modelreg._sync._rpc import RPC"),
        ("open_async_channel(self.target)", "open_channel(self.target)"),
        ("await async_sleep(1.0)", "sleep(1.0)"),
        (
            '"""An asyncio client of the modelreg server.',
            '"""A synchronous client of the modelreg server.',
        ),
        (">>> async with modelreg.AsyncClient() as c:", ">>> with modelreg.Client() as c:"),
        # Word boundaries: these stay as they are.
        ("unasync with care; awaited; my_async_sleep; Asyncio", None),
        ("modelreg._asyncio", None),
    ],
)
def test_substitutions(source: str, expected: str | None) -> None:
    assert unasync.unasync_text(source) == (source if expected is None else expected)


def copy_tree(tmp_path: Path) -> Path:
    """The async sources, the generated sync files and the settings ruff reads."""
    for part in ("client/modelreg/_async", "client/modelreg/_sync"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_sync_files_are_up_to_date(tmp_path: Path) -> None:
    result = run(copy_tree(tmp_path), "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_check_fails_when_an_async_source_is_edited_without_regenerating(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    source = root / "client/modelreg/_async/_aliases.py"
    source.write_text(
        source.read_text().replace(
            '"""Every move of the alias, newest first."""',
            '"""Every move of the alias, newest first (edited)."""',
        )
    )
    result = run(root, "--check")
    assert result.returncode == 1
    assert "client/modelreg/_sync/_aliases.py: stale" in result.stdout
    assert '+        """Every move of the alias, newest first (edited)."""' in result.stdout
    assert "make sync" in result.stdout
    assert "_projects.py" not in result.stdout  # only the stale file is named

    # Regenerating fixes it, and the check then passes.
    assert run(root).returncode == 0
    assert "(edited)" in (root / "client/modelreg/_sync/_aliases.py").read_text()
    assert run(root, "--check").returncode == 0


def test_check_names_missing_and_orphaned_sync_files(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    (root / "client/modelreg/_sync/_models.py").unlink()
    shutil.copy(
        root / "client/modelreg/_async/_projects.py", root / "client/modelreg/_async/_widgets.py"
    )
    (root / "client/modelreg/_sync/_gone.py").write_text("# Generated from nothing\n")
    result = run(root, "--check")
    assert result.returncode == 1
    for line in (
        "client/modelreg/_sync/_models.py: missing",
        "client/modelreg/_sync/_widgets.py: missing",
        "client/modelreg/_sync/_gone.py: no source in client/modelreg/_async",
    ):
        assert line in result.stdout
    assert run(root).returncode == 0
    assert not (root / "client/modelreg/_sync/_gone.py").exists()
    assert run(root, "--check").returncode == 0


def test_generated_files_say_so() -> None:
    for path in sorted((ROOT / "client/modelreg/_sync").glob("*.py")):
        source = f"client/modelreg/_async/{path.name}"
        assert path.read_text().startswith(
            f"# Generated from {source} by client/tools/unasync.py: do not edit.\n"
        ), path
