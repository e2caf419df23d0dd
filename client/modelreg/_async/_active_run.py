"""An active run: what ``start_run`` returns, logging metrics in batches in the background."""

from __future__ import annotations

import logging
import operator
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from time import time_ns
from types import TracebackType
from typing import Any

from modelreg import _convert
from modelreg import _requests as req
from modelreg import _tracking_requests as tr
from modelreg._async._rpc import _RETRIED, TRACKING, AsyncRPC
from modelreg._batching import INTERRUPTS, AsyncLock
from modelreg._errors import ModelregError
from modelreg._tracking_types import DataInput, Run, RunState
from modelreg._types import CodeVersion, ModelVersion, ParamValue
from modelreg.api.v1 import tracking_service_pb2 as tracking

log = logging.getLogger("modelreg")
# Metric.key on the wire; checked when a key is first logged, so a typo fails at the call
# that made it instead of failing a whole batch in the background.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]{0,127}")
# Whether the last batch travels with EndRun (EndRunRequest.metrics), so a run whose points
# fit one batch ends in one call; else it is sent by LogRunData first.
LAST_BATCH_WITH_END = True


def _kept_for_retry(exc: BaseException) -> bool:
    """Whether a batch that failed with ``exc`` may have landed or may land later: then
    it is sent again, with the same request_id, by the next flush."""
    if isinstance(exc, ModelregError):
        return exc.code in _RETRIED
    return not isinstance(exc, Exception)  # interrupted while sending


class AsyncActiveRun:
    """A run being logged to; use it as a context manager.

    Entering creates the run (RUNNING). Leaving sends what is buffered and ends the run:
    SUCCEEDED when the block finished, FAILED when it raised, CANCELLED when it was
    interrupted (KeyboardInterrupt, asyncio.CancelledError); the block's exception is
    re-raised.

    Metrics are batched: ``log_metrics`` only appends to a buffer, and a background flusher
    (the client's one daemon thread, shared by its runs, with the sync client; an asyncio task
    per run with the asyncio one) sends the buffer every ``flush_every_s`` seconds, or as soon
    as it holds ``max_batch`` points, in LogRunData calls of at most ``max_batch`` points, each
    with its own request_id (a retried batch is never stored twice). A batch that fails is
    never dropped silently: the error is raised by the next ``log_metrics``, ``flush`` or the
    exit of the block.
    After UNAVAILABLE or DEADLINE_EXCEEDED (retries spent) the batch is kept and sent again,
    with the same request_id, by the next flush; after any other error (the server refused
    it) it is discarded, and the error says why.

    Example:
        >>> async with client.start_run("translate_kr2en", params={"lr": 0.01}) as run:
        ...     run.log_metrics({"loss": 0.42}, step=1)
        ...     v = await run.register_model_version("translate_kr2en", artifact_uri="./v1.pth")
    """

    def __init__(
        self,
        rpc: AsyncRPC,
        project: str,
        request: tracking.CreateRunRequest,
        *,
        inputs: tuple[DataInput, ...],
        code_version: CodeVersion | None,
        flush_every_s: float,
        max_batch: int,
    ) -> None:
        if flush_every_s <= 0:
            raise ValueError(f"flush_every_s must be positive, got {flush_every_s}")
        if not 1 <= max_batch <= 100_000:
            raise ValueError(f"max_batch must be 1 to 100,000 (LogRunData's cap), got {max_batch}")
        self._rpc = rpc
        self._project = project
        self._create = request
        self._inputs = inputs
        self._code_version = code_version
        # The run's params as the server has them (given at start, or sent by
        # log_params): what a version registered from the run records by default.
        self._params: dict[str, ParamValue] = {
            key: _convert.param(value) for key, value in request.run.params.items()
        }
        self._max_batch = max_batch
        self._run_id = ""
        self._name = ""
        self._ended = False
        # The buffer: appended to by log_metrics, swapped out by the flusher.
        self._lock = threading.Lock()
        self._buffer: list[tr.Point] = []
        self._next_step = 0
        self._keys: set[str] = set()
        # Held while sending, so batches arrive in the order they were logged.
        self._send_lock = AsyncLock()
        self._pending: tracking.LogRunDataRequest | None = None
        self._error: BaseException | None = None
        self._background = rpc.flusher.schedule(
            self._flush_in_background, flush_every_s, "modelreg-run-flusher"
        )

    @property
    def project(self) -> str:
        return self._project

    @property
    def run_id(self) -> str:
        """The run id, e.g. ``run_001`` (made by the server unless given); set on enter."""
        return self._run_id

    @property
    def name(self) -> str:
        """The run's resource name, ``projects/{p}/runs/{run_id}``; set on enter."""
        return self._name

    @property
    def resource_name(self) -> str:
        """The same as ``name``, so the run can be passed as ``run=`` of log_evaluation."""
        return self._name

    async def __aenter__(self) -> AsyncActiveRun:
        if self._name:
            raise RuntimeError(f"run {self._name} was entered already")
        created = await self._rpc.call("CreateRun", self._create, service=TRACKING)
        self._run_id, self._name = created.run_id, created.name
        self._background.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ended:  # the block called end() itself
            return
        if exc_type is None:
            await self.end(RunState.SUCCEEDED)
            return
        # The block's exception is what the caller must see: a failure to send the last
        # metrics or to end the run is logged, not raised over it.
        self._ended = True
        await self._background.stop()
        if self._error is not None:
            log.warning("run %s: a batch failed", self._name, exc_info=self._error)
            self._error = None
        state = RunState.CANCELLED if issubclass(exc_type, INTERRUPTS) else RunState.FAILED
        await self._end_quietly(state)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        time: datetime | None = None,
    ) -> None:
        """Buffer one point per metric; they are sent in the background.

        Args:
            metrics: key -> value; NaN and infinities are kept exactly.
            step: the training step; default 0 for the first call, then one more than
                the step of the previous call on this run.
            time: when the values were measured (timezone-aware); default now.

        Raises:
            ModelregError: an earlier batch failed to send (see the class docstring);
                this call's points are not buffered.
            ValueError: a key is not ``[A-Za-z_][A-Za-z0-9_./-]{0,127}``.
        """
        self._check()
        step = self._next_step if step is None else operator.index(step)
        ns = time_ns() if time is None else tr.nanoseconds(time)
        keys = self._keys
        points = [
            (k if k in keys else self._new_key(k), float(v), step, ns) for k, v in metrics.items()
        ]
        self._next_step = step + 1  # only once the call is sure to buffer its points
        with self._lock:
            self._buffer += points
            full = len(self._buffer) >= self._max_batch
        if full:
            self._background.wake()

    def log_metric(
        self, key: str, value: float, step: int | None = None, time: datetime | None = None
    ) -> None:
        """Buffer one point; ``log_metrics({key: value}, step, time)``."""
        self.log_metrics({key: value}, step, time)

    async def log_params(self, params: Mapping[str, ParamValue]) -> None:
        """Add params now, in one LogRunData call with the buffered metrics. A key already
        set must be given the same value (InvalidArgumentError otherwise)."""
        self._check()
        await self._send(params)
        self._params.update(params)

    async def flush(self) -> None:
        """Send every buffered point now (and a batch kept from a failed flush)."""
        self._check()
        await self._send()

    async def get(self) -> Run:
        """The run as the server has it now (latest metrics, outputs, state)."""
        if not self._name:
            raise RuntimeError("the run is created when its block is entered")
        request = tracking.GetRunRequest(name=self._name)
        return _convert.run(await self._rpc.call("GetRun", request, service=TRACKING))

    async def end(self, state: RunState | str = RunState.SUCCEEDED) -> Run:
        """Send what is buffered, then end the run with ``state``; the block's exit then
        does nothing more. If sending fails, the run is ended FAILED and the error raised."""
        if not self._name or self._ended:
            self._check()  # raises: not entered, or ended already
        self._ended = True
        await self._background.stop()
        try:
            self._raise_kept_error()
            return await self._finish(state)
        except BaseException:
            await self._end_quietly(RunState.FAILED)
            raise

    async def register_model_version(
        self,
        model: str,
        *,
        artifact_uri: str,
        artifact_sha256: str = "",
        artifact_size: int = 0,
        artifact_format: str = "",
        architecture: str = "",
        architecture_config: Mapping[str, Any] | None = None,
        params: Mapping[str, ParamValue] | None = None,
        training_data: Iterable[DataInput] | None = None,
        code_version: CodeVersion | None = None,
        parent_version: str | None = None,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``model`` in the run's project, produced by this
        run: ``source_run`` is the run, and ``params``, ``training_data`` and
        ``code_version`` default to the run's params (given to ``start_run`` or sent by
        ``log_params``), inputs and code version. Takes the other arguments of
        ``Client.register_model_version``.

        Buffered metrics are not sent first (registering does not need them, and a whole
        run then costs three calls: create, register, end); call ``flush()`` before if
        they must be on the server when the version appears.
        """
        self._check()
        request = req.register_model_version(
            self._project,
            model,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            artifact_size=artifact_size,
            artifact_format=artifact_format,
            architecture=architecture,
            architecture_config=architecture_config,
            params=self._params if params is None else params,
            training_data=self._inputs if training_data is None else training_data,
            source_run=self._name,
            code_version=self._code_version if code_version is None else code_version,
            parent_version=parent_version,
            labels=labels,
            description=description,
            request_id=request_id,
        )
        return _convert.model_version(await self._rpc.call("CreateModelVersion", request))

    # The flusher

    def _new_key(self, key: str) -> str:
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(f"metric key {key!r}: expected [A-Za-z_][A-Za-z0-9_./-]{{0,127}}")
        self._keys.add(key)
        return key

    def _check(self) -> None:
        if not self._name:
            raise RuntimeError("enter the run first: start_run returns a context manager")
        if self._ended:
            raise RuntimeError(f"run {self._name} has ended")
        self._raise_kept_error()

    def _raise_kept_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    async def _flush_in_background(self) -> None:
        try:
            await self._send()
        except Exception as exc:  # kept for the next log_metrics, flush or exit
            self._error = exc

    async def _send(self, params: Mapping[str, ParamValue] | None = None) -> None:
        """Send the kept batch, then the buffer in batches of ``max_batch``; ``params`` go
        with the first batch (even an empty one)."""
        async with self._send_lock:
            if self._pending is not None:
                await self._rpc.call("LogRunData", self._pending, service=TRACKING)
                self._pending = None
                if self._error is not None and _kept_for_retry(self._error):
                    self._error = None  # what failed has now landed: nothing was lost
            with self._lock:
                points, self._buffer = self._buffer, []
            chunks = tr.batches(points, self._max_batch) or [()]
            for index, chunk in enumerate(chunks):
                if not chunk and params is None:
                    return
                request = tr.log_points(self._name, chunk, params)
                params = None
                try:
                    await self._rpc.call("LogRunData", request, service=TRACKING)
                except BaseException as exc:
                    rest = [p for c in chunks[index + 1 :] for p in c]
                    if _kept_for_retry(exc):
                        self._pending = request
                    elif request.params:
                        # Refused with params (a key set to another value, most likely):
                        # the points go back to the buffer, for the next flush.
                        rest = [*chunk, *rest]
                    with self._lock:
                        self._buffer[:0] = rest
                    raise

    async def _finish(self, state: RunState | str) -> Run:
        """Send what is left and end the run (with the last batch, LAST_BATCH_WITH_END)."""
        async with self._send_lock:
            if self._pending is not None:
                await self._rpc.call("LogRunData", self._pending, service=TRACKING)
                self._pending = None
            with self._lock:
                points, self._buffer = self._buffer, []
            chunks = tr.batches(points, self._max_batch)
            last = chunks.pop() if chunks and LAST_BATCH_WITH_END else ()
            for chunk in chunks:
                request = tr.log_points(self._name, chunk)
                await self._rpc.call("LogRunData", request, service=TRACKING)
            ending = tr.end_run(self._name, state, "", None, last)
            return _convert.run(await self._rpc.call("EndRun", ending, service=TRACKING))

    async def _end_quietly(self, state: RunState) -> None:
        """End the run with what is left, or failing that without it; failures are logged."""
        try:
            await self._finish(state)
            return
        except Exception:
            log.warning("run %s: its last metrics could not be sent", self._name, exc_info=True)
        try:
            request = tr.end_run(self._name, state, "", None)
            await self._rpc.call("EndRun", request, service=TRACKING)
        except Exception:
            log.warning("run %s: could not be ended %s", self._name, state.value, exc_info=True)
