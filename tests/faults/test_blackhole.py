"""A connection that silently stops carrying bytes (a dead NAT entry, a black-holed
route) is detected by the SDK's keepalive; the call fails over to a new connection
and succeeds within its budget, instead of hanging."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable

import pytest

import modelreg
from tests.conftest import unique
from tests.faults.proxy import FaultProxy

KEEPALIVE_S = 1.5


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_call_on_a_black_holed_connection_fails_over_to_a_new_one(
    kind: str,
    target: str,
    sync_client: modelreg.Client,
    fault_proxy: Callable[[str], FaultProxy],
) -> None:
    project = unique()
    sync_client.create_project(project)
    proxy = fault_proxy(target)
    request_id = uuid.uuid4().hex
    outcome: list[object] = []

    def run_sync() -> None:
        # A timeout longer than the budget: only keepalive can notice the dead connection.
        with modelreg.Client(proxy.target, timeout=60, keepalive_s=KEEPALIVE_S) as client:
            client.get_project(project)  # connected through the proxy
            proxy.black_hole()
            try:
                outcome.append(
                    client.register_model_version(
                        project, "m", artifact_uri="s3://b/m.pt", request_id=request_id
                    )
                )
            except BaseException as exc:
                outcome.append(exc)

    async def run_async() -> None:
        async with modelreg.AsyncClient(
            proxy.target, timeout=60, keepalive_s=KEEPALIVE_S
        ) as client:
            await client.get_project(project)
            proxy.black_hole()
            try:
                outcome.append(
                    await client.register_model_version(
                        project, "m", artifact_uri="s3://b/m.pt", request_id=request_id
                    )
                )
            except BaseException as exc:
                outcome.append(exc)

    def run() -> None:
        if kind == "sync":
            run_sync()
        else:
            asyncio.run(run_async())

    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    caller.join(timeout=30)  # the default budget; keepalive needs a few seconds
    assert not caller.is_alive(), "the call hung on the black-holed connection"
    assert len(outcome) == 1 and isinstance(outcome[0], modelreg.ModelVersion), outcome
    assert outcome[0].version == 1
    assert proxy.connections >= 2  # it came back on a new connection
    assert [v.version for v in sync_client.list_model_versions(project, "m")] == [1]
