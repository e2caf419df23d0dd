"""The registry family: projects, models, versions and aliases, one object each.

Each public method of these objects is one unit of work: validate, then one
transaction (or one autocommit read). Mutations go through the idempotency
component (idempotency.py)."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg_server.service.aliases import AliasesService
from modelreg_server.service.models import ModelsService
from modelreg_server.service.projects import ProjectsService
from modelreg_server.service.versions import VersionsService


@dataclass(frozen=True)
class Registry:
    """What RegistryService's servicer calls: one object per resource kind, composed in
    app.py over one store and one idempotency component."""

    projects: ProjectsService
    models: ModelsService
    versions: VersionsService
    aliases: AliasesService
