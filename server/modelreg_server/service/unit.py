"""The unit of work shared by the use cases: one transaction per call, at most
once per request_id."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from modelreg_server.domain import errors
from modelreg_server.domain.types import VersionRef
from modelreg_server.service import validation as check
from modelreg_server.storage import requests
from modelreg_server.storage.store import Conn, Store

T = TypeVar("T")


def digest(*payload: Any) -> str:
    """A stable hash of a call's arguments, to tell a retry from a reused request_id."""

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return str(o)

    raw = json.dumps(payload, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def check_etag(given: str, current: str, what: str) -> None:
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


async def no_result(conn: Conn, resource: str) -> None:
    """The replay of a call that returns nothing (deletes)."""


class ServiceBase:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def _once(
        self,
        method: str,
        request_id: str,
        payload: tuple[Any, ...],
        work: Callable[[Conn], Awaitable[T]],
        replay: Callable[[Conn, str], Awaitable[T]],
        name_of: Callable[[T], str],
    ) -> T:
        """Run ``work`` in one transaction, at most once per request_id."""
        rid = check.request_id(request_id)
        async with self._store.write() as conn:
            if rid is not None:
                prior = await requests.claim(conn, method, rid, digest(method, *payload))
                if prior is not None:
                    return await replay(conn, prior)
            result = await work(conn)
            if rid is not None:
                await requests.record(conn, method, rid, name_of(result))
            return result
