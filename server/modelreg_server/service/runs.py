"""Use cases on runs: start, log params and metric points, end, read, list.

The mutations try one statement first (``Idempotency.run_fast``): CreateRun
always, LogRunData and EndRun with at most ``run_metrics.MAX_STATEMENT_POINTS``
points, no params and (EndRun) no etag. What that statement does not do (it
writes nothing then) the transaction path does, with the errors in the order the
API promises: NOT_FOUND, then RUN_ENDED, ABORTED, INVALID_ARGUMENT for params."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from modelreg_server.domain import errors
from modelreg_server.domain.names import etag as etag_of
from modelreg_server.domain.names import project_name, run_name
from modelreg_server.domain.runs import (
    ENDED,
    MetricPoint,
    NewRun,
    Run,
    RunData,
    RunState,
)
from modelreg_server.domain.types import ListQuery, Page, ParamValue
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag
from modelreg_server.storage import dataset_refs, run_create, run_metrics
from modelreg_server.storage import projects as project_q
from modelreg_server.storage import runs as run_q
from modelreg_server.storage.requests import Key
from modelreg_server.storage.store import Conn, RawConn, Store
from modelreg_server.storage.typed_rows import encode_param

MAX_EXPERIMENT = 256
RUN_ENDED = "RUN_ENDED"


def check_new_run(spec: NewRun, limits: FieldLimits, field: str = "run") -> None:
    check.text(spec.experiment, f"{field}.experiment", MAX_EXPERIMENT)
    check.params(spec.params, f"{field}.params", limits)
    check.data_refs(spec.inputs, f"{field}.inputs")
    check.text(spec.code_version.repo, f"{field}.code_version.repo", check.MAX_URI)
    check.text(spec.code_version.commit, f"{field}.code_version.commit")
    check.labels(spec.labels, f"{field}.labels", limits)
    check.text(spec.description, f"{field}.description", check.MAX_DESCRIPTION)


def check_run_data(data: RunData, limits: FieldLimits) -> None:
    points = data.points
    if len(points) > limits.max_metric_points:
        raise errors.InvalidArgument(
            "metrics",
            f"{len(points)} points; at most {check.over(limits, 'max_metric_points')} per call",
        )
    keys = {p[0] for p in points}
    good = check.METRIC_KEY_RE.fullmatch
    if keys and (max(map(len, keys)) > limits.max_metric_key_chars or not all(map(good, keys))):
        # The slow path, only to name the first bad point.
        for i, p in enumerate(points):
            check.metric_key(p[0], f"metrics[{i}].key", limits)
    check.params(data.params, "params", limits)


_NO_DATA = RunData()


def _one_statement(data: RunData, *, allow_empty: bool = False) -> bool:
    """Whether a call appending ``data`` may try run_metrics.append: a few points
    (COPY is faster for more) and no params (added params would have to be locked
    before the run row, see run_metrics)."""
    if data.params or len(data.points) > run_metrics.MAX_STATEMENT_POINTS:
        return False
    return allow_empty or bool(data.points)


def _ended(name: str, state: str) -> errors.FailedPrecondition:
    return errors.FailedPrecondition(
        f"{name} has ended ({state})", reason=RUN_ENDED, metadata={"state": state}
    )


class RunsService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

    async def create_run(
        self, project: str, run_id: str, spec: NewRun, *, actor: str, request_id: str = ""
    ) -> Run:
        check.name(project, "parent", "project name")
        if run_id:
            check.name(run_id, "run_id", "run id")
        check_new_run(spec, self._limits)

        async def work(conn: Conn) -> Run:
            pid = await project_q.id_of(conn, project)  # NOT_FOUND before inputs are checked
            inputs = await dataset_refs.resolve(conn, project, spec.inputs, "run.inputs")
            return await run_create.create(
                conn, project, pid, run_id, spec, inputs, created_by=actor
            )

        payload = (project, run_id, spec)
        scope = project_name(project)

        async def statement(raw: RawConn, key: Key | None) -> Run | None:
            return await run_create.create_fast(
                raw, project, run_id, spec, created_by=actor, request=key
            )

        return await self._requests.run_fast(
            idem.CREATE_RUN, request_id, payload, statement, work, scope=scope
        )

    async def get_run(self, project: str, run: str) -> Run:
        async with self._store.hot() as raw:
            found = await run_q.fetch(raw, project, run)
        if found is None:
            async with self._store.read() as conn:
                raise await run_q.not_found(conn, project, run)
        return found

    async def list_runs(
        self, project: str, q: ListQuery, take: Callable[[Sequence[Run]], object]
    ) -> str:
        """A page of runs, handed to ``take`` in order a chunk at a time (the caller
        converts one while the database works out the next); the next page's token."""
        tokens = await self._store.page_tokens()
        async with self._store.hot() as raw:
            token = await run_q.list_(raw, project, q, tokens, take)
        if token is None:
            async with self._store.read() as conn:
                await project_q.id_of(conn, project)  # NotFound for a missing project
            return ""
        return token

    async def update_run(
        self,
        project: str,
        run: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> Run:
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = check.text(
                description, "run.description", check.MAX_DESCRIPTION
            )
        if labels is not None:
            check.labels(labels, "run.labels", self._limits)
        if not values and labels is None:
            raise errors.InvalidArgument(
                "update_mask", "names no updatable field (description, labels)"
            )
        name = run_name(project, run)

        async def work(conn: Conn) -> Run:
            rid, revision, _ = await run_q.lock(conn, project, run)
            check_etag(etag, etag_of(revision), name)
            await run_q.update_(conn, rid, values, labels)
            return await run_q.get_by_id(conn, rid, project)

        payload = (project, run, values, labels, etag)
        return await self._requests.run(idem.UPDATE_RUN, request_id, payload, work, scope=name)

    async def log_run_data(
        self, project: str, run: str, data: RunData, *, request_id: str = ""
    ) -> dict[str, int]:
        """Append points and add params in one transaction: (points, new params)."""
        check_run_data(data, self._limits)
        name = run_name(project, run)

        async def work(conn: Conn) -> dict[str, int]:
            # No lock until run_metrics.finish: calls on one run copy side by side.
            rid, state = await run_q.state_of(conn, project, run)
            if state is not RunState.RUNNING:
                raise _ended(name, state.value)
            added, _ = await self._append(conn, name, rid, data)
            return {"metrics_logged": len(data.points), "params_logged": len(added)}

        payload = (project, run, data.fingerprint)
        if not _one_statement(data):
            return await self._requests.run(
                idem.LOG_RUN_DATA, request_id, payload, work, scope=name
            )

        async def statement(raw: RawConn, key: Key | None) -> dict[str, int] | None:
            row = await run_metrics.append(raw, project, run, data.points, end=None, request=key)
            return None if row is None else dict(row)

        return await self._requests.run_fast(
            idem.LOG_RUN_DATA, request_id, payload, statement, work, scope=name
        )

    async def _append(
        self, conn: Conn, name: str, run_id: int, data: RunData
    ) -> tuple[dict[str, ParamValue], int | None]:
        """LogRunData's writes on a run seen RUNNING: the params it did not have
        (each other one must have the value given), the points, then the run row
        under its lock. Returns the params added and the run's revision before
        (None when there was nothing to write)."""
        added = await self._add_params(conn, run_id, data)
        if data.points:
            await run_metrics.copy_points(conn, run_id, data.points)
        if not (added or data.points):
            return added, None
        finished = await run_metrics.finish(conn, run_id, added, data.points)
        if finished is None:  # ended while this call copied
            raise _ended(name, "ended")
        count, revision = finished
        if count > self._limits.max_params:
            raise errors.InvalidArgument(
                "params", f"a run has at most {check.over(self._limits, 'max_params')} params"
            )
        return added, revision

    @staticmethod
    async def _add_params(conn: Conn, run_id: int, data: RunData) -> dict[str, ParamValue]:
        """Insert the params the run does not have yet; the others must have the
        value given. Returns the new ones."""
        if not data.params:
            return {}
        new, existing = await run_metrics.insert_params(conn, run_id, data.params)
        for key, (was_kind, was) in existing.items():
            kind, _, text = encode_param(data.params[key])
            if (kind, text) != (was_kind, was):
                raise errors.InvalidArgument(
                    f"params[{check.shown(key)}]",
                    f"already set to {check.shown(was)} ({was_kind}); a param is fixed once set",
                )
        inserted = set(new)
        return {key: value for key, value in data.params.items() if key in inserted}

    async def end_run(
        self,
        project: str,
        run: str,
        state: RunState,
        data: RunData = _NO_DATA,
        *,
        etag: str = "",
        request_id: str = "",
    ) -> Run:
        """End a RUNNING run, after appending ``data`` as LogRunData would, in one
        transaction. A run already ended with ``state`` is returned unchanged and
        nothing of ``data`` is appended (a retry of an end that went through, or an
        end of the same run by another process); another ended state is RUN_ENDED."""
        if state not in ENDED:
            raise errors.InvalidArgument("state", "must be SUCCEEDED, FAILED or CANCELLED")
        check_run_data(data, self._limits)
        name = run_name(project, run)

        async def work(conn: Conn) -> Run:
            rid, current = await run_q.state_of(conn, project, run)
            if current is state:  # ended so already: unchanged, whatever the etag
                return await run_q.get_by_id(conn, rid, project)
            if current is not RunState.RUNNING:
                raise _ended(name, current.value)
            revision: int | None = None
            if data.points or data.params:
                try:
                    async with conn.begin_nested():  # undone whole if the run ended meanwhile
                        _, revision = await self._append(conn, name, rid, data)
                except errors.FailedPrecondition:
                    revision = None
            if revision is None:  # the row is not locked yet (nothing appended, or ended meanwhile)
                rid, revision, current = await run_q.lock(conn, project, run)
                if current is state:
                    return await run_q.get_by_id(conn, rid, project)
                if current is not RunState.RUNNING:
                    raise _ended(name, current.value)
            check_etag(etag, etag_of(revision), name)
            await run_q.end(conn, rid, state)
            return await run_q.get_by_id(conn, rid, project)

        payload: tuple[Any, ...] = (project, run, state.value, etag)
        if data.points or data.params:
            payload += (data.fingerprint,)
        if etag or not _one_statement(data, allow_empty=True):
            return await self._requests.run(idem.END_RUN, request_id, payload, work, scope=name)

        async def statement(raw: RawConn, key: Key | None) -> Run | None:
            row = await run_metrics.append(raw, project, run, data.points, end=state, request=key)
            return cast(Run | None, row)

        return await self._requests.run_fast(
            idem.END_RUN, request_id, payload, statement, work, scope=name
        )

    async def metric_history(
        self, project: str, run: str, key: str, q: ListQuery
    ) -> Page[MetricPoint]:
        check.stored_metric_key(key, "key")
        tokens = await self._store.page_tokens()
        async with self._store.hot() as raw:
            page = await run_metrics.history(raw, project, run, key, q, tokens)
        if page is None:
            async with self._store.read() as conn:
                # NotFound for a missing run; a key never logged is an empty history.
                await run_q.id_of(conn, project, run)
            return Page(items=())
        return page
