"""Background tasks of the server (the database probe, the inference upkeep): how they
are stopped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("modelreg_server")


async def cancel_and_wait(task: asyncio.Task[Any], every_s: float = 0.2) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again while it runs.

    One cancel is not always enough: one that lands while the database driver is
    finishing a statement can be absorbed by the driver's own cleanup, and the task
    then goes on to its next sleep (an hour for the inference upkeep), which stop()
    would wait out. Seen as a server that never stopped after SIGTERM at startup.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every_s)
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s ended with an error", task.get_name(), exc_info=task.exception())
