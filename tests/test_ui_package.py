"""The dashboard's templates and static assets are package data: every file under
server/modelreg_ui/templates and static matches a package-data pattern of
pyproject.toml, so an installed wheel serves the same pages offline (no CDN)."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "server" / "modelreg_ui"


def test_every_template_and_asset_is_package_data() -> None:
    # tomllib is Python 3.11+; the line is a TOML array of strings, a Python list too.
    line = re.search(r"^modelreg_ui = (\[.*\])$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert line, "modelreg_ui package-data in pyproject.toml"
    patterns = ast.literal_eval(line.group(1))
    files = [
        p.relative_to(UI).as_posix()
        for folder in ("templates", "static")
        for p in (UI / folder).rglob("*")
        if p.is_file()
    ]
    assert files
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)]
    assert missing == []


def test_pages_reference_only_shipped_assets() -> None:
    shipped = {p.name for p in (UI / "static").iterdir()}
    referenced = {
        name
        for template in (UI / "templates").rglob("*.html")
        for name in re.findall(r'/static/([^"\']+)', template.read_text())
    }
    assert referenced and referenced <= shipped, referenced - shipped
