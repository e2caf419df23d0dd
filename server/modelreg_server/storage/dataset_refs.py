"""Checking references to dataset versions (a model version's training data, a
run's inputs): every one must name an existing dataset version. One query for
all of them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from modelreg_server.domain import errors
from modelreg_server.domain.names import dataset_version_name
from modelreg_server.domain.types import DataRef, ResolvedRef
from modelreg_server.storage.store import Conn

_RESOLVE = text(
    """
    SELECT r.ord, dv.id, dv.batch_id
    FROM unnest(CAST(:projects AS text[]), CAST(:datasets AS text[]), CAST(:versions AS text[]))
         WITH ORDINALITY AS r(project, dataset, version, ord)
    JOIN projects p ON p.name = r.project
    JOIN datasets s ON s.project_id = p.id AND s.name = r.dataset
    JOIN dataset_versions dv ON dv.dataset_id = s.id AND dv.version = r.version
    """
)


async def resolve(
    conn: Conn, project: str, refs: Sequence[DataRef], field: str
) -> list[ResolvedRef]:
    """``refs`` (validated: dataset and version set) checked against the database,
    in order. A reference without a project is to the caller's ``project``. A
    missing dataset version is INVALID_ARGUMENT naming ``field[i]``."""
    if not refs:
        return []
    projects = [ref.project or project for ref in refs]
    rows = await conn.execute(
        _RESOLVE,
        {
            "projects": projects,
            "datasets": [ref.dataset for ref in refs],
            "versions": [ref.version for ref in refs],
        },
    )
    found = {row.ord: (row.id, row.batch_id) for row in rows}
    resolved = []
    for i, ref in enumerate(refs):
        hit = found.get(i + 1)
        if hit is None:
            name = dataset_version_name(projects[i], ref.dataset, ref.version)
            raise errors.InvalidArgument(f"{field}[{i}]", f"no such dataset version: {name}")
        resolved.append(
            ResolvedRef(hit[0], projects[i], ref.dataset, ref.version, hit[1], ref.role)
        )
    return resolved
