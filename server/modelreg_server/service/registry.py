"""The registry family: projects, models, versions and aliases, one object each.

Each public method of these objects is one unit of work: validate, then one
transaction (or one autocommit read). Mutations go through the idempotency
component (idempotency.py)."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg_server.service.aliases import AliasesService
from modelreg_server.service.idempotency import Idempotency
from modelreg_server.service.models import ModelsService
from modelreg_server.service.projects import ProjectsService
from modelreg_server.service.versions import VersionsService
from modelreg_server.storage.store import Store


@dataclass(frozen=True)
class Registry:
    """What RegistryService's servicer calls, composed (not inherited)."""

    projects: ProjectsService
    models: ModelsService
    versions: VersionsService
    aliases: AliasesService

    @classmethod
    def over(cls, store: Store, requests: Idempotency) -> Registry:
        return cls(
            projects=ProjectsService(store, requests),
            models=ModelsService(store, requests),
            versions=VersionsService(store, requests),
            aliases=AliasesService(store, requests),
        )
