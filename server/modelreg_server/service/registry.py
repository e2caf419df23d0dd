"""The registry's use cases in one object, for the transport to call.

Each public method is one unit of work: validate, then one transaction (or one
autocommit read). Mutations take an optional request_id: a retry with the same
id returns the first result, the same id with another payload is refused."""

from __future__ import annotations

from modelreg_server.service.aliases import AliasesService
from modelreg_server.service.projects import ProjectsService
from modelreg_server.service.versions import VersionsService


class RegistryService(ProjectsService, VersionsService, AliasesService):
    """Projects, models, versions and aliases over one ``Store``."""
