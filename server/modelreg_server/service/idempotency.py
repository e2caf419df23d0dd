"""The idempotency component: every mutation's request_id policy, in one place.

A mutating call may carry a request_id. The first call with it does the work and
stores its response with the id, in the same transaction; a retry with the same
id and the same request gets that stored response back, even if the resource has
changed since; the same id with another request is INVALID_ARGUMENT. A key is the
method, the resource the call addresses (its parent, for a create) and the id: one
id cannot replay another method's response, and callers working on different
resources never see each other's ids.

Most mutations claim the id at the start of their transaction (``run``).
Registration is a single statement that records the id and response itself
(``run_statement``): a taken id fails that statement whole, counter included,
and the stored response is replayed instead. The run mutations try such a
statement for the common case and fall back to a transaction for the rest
(``run_fast``)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from modelreg_server.domain import errors
from modelreg_server.service import validation as check
from modelreg_server.storage import requests
from modelreg_server.storage.store import Conn, RawConn, Store

T = TypeVar("T")
REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
REQUEST_ID_NOT_REPLAYABLE = "REQUEST_ID_NOT_REPLAYABLE"


@dataclass(frozen=True)
class Mutation:
    """How one mutating RPC treats its request_id."""

    method: str  # the namespace of its request ids
    returns_record: bool = True  # False: the call returns nothing (deletes)


# Every mutation of the API, and nothing else may take a request_id.
CREATE_PROJECT = Mutation("CreateProject")
UPDATE_PROJECT = Mutation("UpdateProject")
DELETE_PROJECT = Mutation("DeleteProject", returns_record=False)
CREATE_MODEL = Mutation("CreateModel")
UPDATE_MODEL = Mutation("UpdateModel")
DELETE_MODEL = Mutation("DeleteModel", returns_record=False)
CREATE_MODEL_VERSION = Mutation("CreateModelVersion")
UPDATE_MODEL_VERSION = Mutation("UpdateModelVersion")
ARCHIVE_MODEL_VERSION = Mutation("ArchiveModelVersion")
RESTORE_MODEL_VERSION = Mutation("RestoreModelVersion")
DELETE_MODEL_VERSION = Mutation("DeleteModelVersion")
SET_ALIAS = Mutation("SetAlias")
DELETE_ALIAS = Mutation("DeleteAlias", returns_record=False)
ROLLBACK_ALIAS = Mutation("RollbackAlias")
CREATE_RUN = Mutation("CreateRun")
UPDATE_RUN = Mutation("UpdateRun")
LOG_RUN_DATA = Mutation("LogRunData")
END_RUN = Mutation("EndRun")
CREATE_DATASET_VERSION = Mutation("CreateDatasetVersion")
CREATE_EVALUATION = Mutation("CreateEvaluation")
CREATE_DEPLOYMENT = Mutation("CreateDeployment")
SET_TRAFFIC = Mutation("SetTraffic")
UPDATE_DEPLOYMENT = Mutation("UpdateDeployment")
CREATE_PIPELINE_RUN = Mutation("CreatePipelineRun")
RECORD_PIPELINE_STEP = Mutation("RecordPipelineStep")
END_PIPELINE_RUN = Mutation("EndPipelineRun")
MUTATIONS = {
    m.method: m
    for m in (
        CREATE_PROJECT, UPDATE_PROJECT, DELETE_PROJECT, CREATE_MODEL, UPDATE_MODEL,
        DELETE_MODEL, CREATE_MODEL_VERSION, UPDATE_MODEL_VERSION, ARCHIVE_MODEL_VERSION,
        RESTORE_MODEL_VERSION, DELETE_MODEL_VERSION, SET_ALIAS, DELETE_ALIAS, ROLLBACK_ALIAS,
        CREATE_RUN, UPDATE_RUN, LOG_RUN_DATA, END_RUN,
        CREATE_DATASET_VERSION, CREATE_EVALUATION,
        CREATE_DEPLOYMENT, SET_TRAFFIC, UPDATE_DEPLOYMENT,
        CREATE_PIPELINE_RUN, RECORD_PIPELINE_STEP, END_PIPELINE_RUN,
    )
}  # fmt: skip


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def digest(*payload: Any) -> str:
    """A stable hash of a call's arguments, to tell a retry from a reused request_id."""

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            # One level at a time (json.dumps comes back here for nested ones): the
            # same JSON as dataclasses.asdict, without its deep copies.
            return {name: getattr(o, name) for name in _field_names(type(o))}
        return str(o)

    raw = json.dumps(payload, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


class Idempotency:
    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def key(
        mutation: Mutation, scope: str, request_id: str, payload: tuple[Any, ...]
    ) -> requests.Key | None:
        """The call's claim, or None without a request_id (checked here: bad ids fail
        before any work)."""
        rid = check.request_id(request_id)
        if rid is None:
            return None
        return requests.Key(mutation.method, scope, rid, digest(mutation.method, *payload))

    async def run(
        self,
        mutation: Mutation,
        request_id: str,
        payload: tuple[Any, ...],
        work: Callable[[Conn], Awaitable[T]],
        *,
        scope: str,
    ) -> T:
        """Run ``work`` in one transaction, at most once per request_id in ``scope``
        (the name of the resource the call addresses)."""
        key = self.key(mutation, scope, request_id, payload)
        async with self._store.write() as conn:
            if key is not None:
                prior = await requests.claim(conn, key)
                if prior is not None:
                    return cast(T, self._replay(mutation, key, prior))
            result = await work(conn)
            if key is not None:
                response = cast(Any, result) if mutation.returns_record else None
                await requests.record(conn, key, response)
            return result

    async def run_statement(
        self,
        mutation: Mutation,
        request_id: str,
        payload: tuple[Any, ...],
        statement: Callable[[RawConn, requests.Key | None], Awaitable[T | None]],
        *,
        scope: str,
    ) -> T:
        """Run a single statement that records its own key and response, and
        returns None when the key was taken: then replay what the first call stored."""
        key = self.key(mutation, scope, request_id, payload)
        async with self._store.hot() as raw:
            result = await statement(raw, key)
        if result is not None:
            return result
        assert key is not None, "a statement without a request_id cannot find it taken"
        async with self._store.read() as conn:
            prior = await requests.lookup(conn, key)
        return cast(T, self._replay(mutation, key, prior))

    async def run_fast(
        self,
        mutation: Mutation,
        request_id: str,
        payload: tuple[Any, ...],
        statement: Callable[[RawConn, requests.Key | None], Awaitable[T | None]],
        work: Callable[[Conn], Awaitable[T]],
        *,
        scope: str,
    ) -> T:
        """Try ``statement``: the whole call as one statement on a raw connection,
        recording its own key and response. When it writes nothing and returns None
        (a case it leaves to the transaction: an error to tell, a made id taken, the
        request_id taken, a concurrent change), ``work`` runs as ``run`` runs it,
        and decides: the error, the next id, the replay."""
        key = self.key(mutation, scope, request_id, payload)
        async with self._store.hot() as raw:
            result = await statement(raw, key)
        if result is not None:
            return result
        return await self.run(mutation, request_id, payload, work, scope=scope)

    @staticmethod
    def _replay(mutation: Mutation, key: requests.Key, prior: requests.Prior) -> Any:
        if mutation.returns_record and prior.response is requests.NO_RESPONSE:
            # Recorded before responses were kept; its hash is not comparable either.
            raise errors.FailedPrecondition(
                f"request_id {key.request_id!r} was used before this server kept responses, "
                "so its response cannot be replayed; read the resource instead",
                reason=REQUEST_ID_NOT_REPLAYABLE,
            )
        if prior.payload_hash != key.payload_hash:
            raise errors.InvalidArgument(
                "request_id",
                "already used for a different request; make a new id per logical call",
                reason=REQUEST_ID_REUSED,
            )
        return prior.response if mutation.returns_record else None
