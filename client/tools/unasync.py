"""Generate the sync client, client/modelreg/_sync/, from the async one, client/modelreg/_async/.

After encode/httpcore's scripts/unasync.py: a short list of token substitutions, each a regex
matched on word boundaries, applied to the whole text of every file (code, docstrings and
comments alike); the result has its imports sorted and is formatted by ruff with the project's
settings, so ``ruff check`` and ``ruff format --check`` agree with it.

    python client/tools/unasync.py            # regenerate (make sync)
    python client/tools/unasync.py --check    # write nothing; exit 1 naming each stale file
                                              # (make sync-check, part of make lint)

Where grpc's sync and asyncio APIs differ beyond these tokens (channel creation, sleeping),
the difference is a pair of hand-written helpers in modelreg/_transport.py, renamed here.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
from pathlib import Path

SOURCE = Path("client/modelreg/_async")
TARGET = Path("client/modelreg/_sync")

# (pattern, replacement): applied in this order; every one must be used somewhere.
SUBS: list[tuple[str, str]] = [
    (r"async def", "def"),
    (r"async with", "with"),
    (r"async for", "for"),
    (r"await ", ""),
    (r"__aenter__", "__enter__"),
    (r"__aexit__", "__exit__"),
    (r"__aiter__", "__iter__"),
    (r"__anext__", "__next__"),
    # AsyncClient -> Client, AsyncIterator -> Iterator, AsyncProjects -> Projects, AsyncRPC -> RPC.
    (r"Async([A-Z][A-Za-z0-9_]*)", r"\1"),
    (r"modelreg\._async", "modelreg._sync"),
    (r"open_async_channel", "open_channel"),
    (r"async_sleep", "sleep"),
    (r"An asyncio client", "A synchronous client"),
]


def _compile(pattern: str) -> re.Pattern[str]:
    # A word boundary on each end that is a word character: "await " still matches
    # "await (", and "async_sleep" does not match inside "my_async_sleep".
    head = r"\b" if re.match(r"\w", pattern) else ""
    tail = r"\b" if re.search(r"\w$", pattern) else ""
    return re.compile(head + pattern + tail)


COMPILED = [(_compile(pattern), repl) for pattern, repl in SUBS]


def header(source: Path) -> str:
    return (
        f"# Generated from {source.as_posix()} by client/tools/unasync.py: do not edit.\n"
        "# Change the async source and run `make sync`; `make lint` fails while this is stale.\n"
    )


def unasync_text(text: str, used: set[int] | None = None) -> str:
    """``text`` with every substitution applied; records the ones that matched in ``used``."""
    for index, (regex, repl) in enumerate(COMPILED):
        text, count = regex.subn(repl, text)
        if count and used is not None:
            used.add(index)
    return text


def ruff(args: list[str], text: str, path: Path, root: Path) -> str:
    command = [sys.executable, "-m", "ruff", *args, "--config", str(root / "pyproject.toml")]
    result = subprocess.run(
        [*command, "--stdin-filename", str(path), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"ruff {args[0]} failed on {path}:\n{result.stderr}")
    return result.stdout


def tidy(text: str, path: Path, root: Path) -> str:
    """Sort the imports (renamed names sort differently) and format, as ``make fmt`` would."""
    text = ruff(["check", "--select", "I", "--fix-only", "--exit-zero"], text, path, root)
    return ruff(["format"], text, path, root)


def generate(root: Path) -> dict[Path, str]:
    """What every sync file should contain, by path relative to ``root``."""
    used: set[int] = set()
    out: dict[Path, str] = {}
    for source in sorted((root / SOURCE).rglob("*.py")):
        rel = source.relative_to(root)
        target = TARGET / rel.relative_to(SOURCE)
        text = header(rel) + unasync_text(source.read_text(encoding="utf-8"), used)
        out[target] = tidy(text, target, root)
    unused = [SUBS[i] for i in range(len(SUBS)) if i not in used]
    if unused:
        raise SystemExit(f"unasync: substitutions never used (remove them): {unused}")
    return out


def is_generated(path: Path) -> bool:
    return path.read_text(encoding="utf-8").startswith("# Generated from ")


def check(root: Path, expected: dict[Path, str]) -> list[str]:
    """One message per stale, missing or orphaned sync file; empty when up to date."""
    problems: list[str] = []
    for rel, text in expected.items():
        path = root / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), "committed", "generated", lineterm="", n=1
            )
            problems.append(f"{rel}: stale\n" + "\n".join(list(diff)[:30]))
    for path in sorted((root / TARGET).rglob("*.py")):
        if path.relative_to(root) not in expected:
            problems.append(f"{path.relative_to(root)}: no source in {SOURCE}")
    return problems


def write(root: Path, expected: dict[Path, str]) -> None:
    for rel, text in expected.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    for path in sorted((root / TARGET).rglob("*.py")):
        if path.relative_to(root) in expected:
            continue
        if not is_generated(path):
            raise SystemExit(f"{path}: not generated and has no source in {SOURCE}; move it")
        path.unlink()
        print(f"removed {path.relative_to(root)} (its source is gone)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate client/modelreg/_sync from _async.")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if stale")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the repository root (default: the one holding this script)",
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    expected = generate(root)
    if not args.check:
        write(root, expected)
        return 0
    problems = check(root, expected)
    for problem in problems:
        print(problem)
    if problems:
        print(f"the sync client is stale: run 'make sync' (it regenerates {TARGET})")
        return 1
    print("the sync client is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
