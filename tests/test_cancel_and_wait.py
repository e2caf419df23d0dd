"""Stopping the server's background tasks: a cancellation absorbed by code the task is
in (a database driver finishing a statement does this) must not leave stop() waiting
on the task's next sleep. It did: a server stopped right after start, while the
inference upkeep ran its first round, hung in stop() until SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib

from modelreg_server.background import cancel_and_wait


async def _absorbs_one_cancel(started: asyncio.Event) -> None:
    started.set()
    # The statement the first cancel lands in, absorbed as a driver's cleanup may.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    await asyncio.sleep(3600)  # the loop's sleep until the next round


async def test_a_task_that_absorbs_a_cancel_still_ends() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(_absorbs_one_cancel(started), name="upkeep")
    await started.wait()
    stopper = asyncio.create_task(cancel_and_wait(task, every_s=0.05))
    # Bounded so a regression fails instead of hanging the suite (asyncio.wait, not
    # wait_for: wait_for's own cancel on timeout would end the task and hide the hang).
    done, _ = await asyncio.wait({stopper}, timeout=30)
    if not done:
        task.cancel()
        stopper.cancel()
    assert done, "cancel_and_wait still waiting: a single cancel was absorbed"
    assert task.cancelled()


async def test_a_plain_task_is_cancelled_once() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task), timeout=30)
    assert task.cancelled()


async def test_a_finished_task_is_left_as_it_is() -> None:
    task = asyncio.create_task(asyncio.sleep(0, result="done"))
    await task
    await cancel_and_wait(task)
    assert task.result() == "done"
