"""Checks shared by the families' use cases."""

from __future__ import annotations

from modelreg_server.domain import errors
from modelreg_server.domain.types import VersionRef
from modelreg_server.service import validation as check


def check_etag(given: str, current: str, what: str) -> None:
    """A stale ``given`` etag (the caller read an older revision) is ABORTED."""
    if given and given != current:
        raise errors.Aborted(
            f"{what} changed since it was read (etag {given} is stale, current {current}); "
            "read it again and retry",
            reason="STALE_ETAG",
            metadata={"current_etag": current},
        )


def check_ref(ref: VersionRef, field: str) -> None:
    check.name(ref.project, field, "project")
    check.name(ref.model, field, "model")
    check.version_selector(ref.selector, field)
