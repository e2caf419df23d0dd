"""AIP-122 resource names from requests, parsed into their segments; bad names name
the field. Spelling names is domain/names.py's job."""

from __future__ import annotations

from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.domain.types import VersionRef
from modelreg_server.service import validation

_SINGULAR = {
    "projects": "project",
    "models": "model",
    "aliases": "alias",
    "datasets": "dataset",
    "runs": "run",
    "evaluations": "evaluation",
}


def _parse(name: str, field: str, pattern: tuple[str, ...]) -> list[str]:
    parts = name.split("/")
    expected = "/".join(f"{c}/{{{c[:-1]}}}" for c in pattern)
    if len(parts) != 2 * len(pattern) or any(
        parts[2 * i] != c or not parts[2 * i + 1] for i, c in enumerate(pattern)
    ):
        raise InvalidArgument(field, f"expected {expected}, got {validation.shown(name)}")
    ids = parts[1::2]
    # Every id is a short name (a version may also be a number): a malformed id is
    # bad input, and must never reach a query (NUL bytes, huge numbers).
    for collection, value in zip(pattern, ids, strict=True):
        if collection == "versions" and pattern[1] == "datasets":
            validation.dataset_version_id(value, field)
        elif collection == "versions":
            validation.version_selector(value, field)
        else:
            validation.name(value, field, _SINGULAR[collection])
    return ids


def project(name: str, field: str = "name") -> str:
    return _parse(name, field, ("projects",))[0]


def model(name: str, field: str = "name") -> tuple[str, str]:
    p, m = _parse(name, field, ("projects", "models"))
    return p, m


def version(name: str, field: str = "name") -> VersionRef:
    p, m, v = _parse(name, field, ("projects", "models", "versions"))
    return VersionRef(p, m, v)


def alias(name: str, field: str = "name") -> tuple[str, str, str]:
    p, m, a = _parse(name, field, ("projects", "models", "aliases"))
    return p, m, a


def dataset(name: str, field: str = "name") -> tuple[str, str]:
    """`projects/{p}/datasets/{d}`; `{d}` may be `-` (every dataset) where a caller allows it."""
    if name.endswith("/datasets/-"):
        return project(name.removesuffix("/datasets/-"), field), "-"
    p, d = _parse(name, field, ("projects", "datasets"))
    return p, d


def dataset_version(name: str, field: str = "name") -> tuple[str, str, str]:
    p, d, v = _parse(name, field, ("projects", "datasets", "versions"))
    return p, d, v


def run(name: str, field: str = "name") -> tuple[str, str]:
    p, r = _parse(name, field, ("projects", "runs"))
    return p, r


def evaluation(name: str, field: str = "name") -> tuple[VersionRef, str]:
    p, m, v, e = _parse(name, field, ("projects", "models", "versions", "evaluations"))
    return VersionRef(p, m, v), e
