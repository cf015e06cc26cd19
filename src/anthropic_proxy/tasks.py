"""Background tasks: the one way to start one (ruff bans `asyncio.create_task` elsewhere).

The event loop keeps only a weak reference to a task, so the caller keeps the one `spawn`
returns (an attribute, a set or a dict) until it ends; `spawn` logs a failure nobody awaits,
and `cancel` stops a task and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("anthropic_proxy")
T = TypeVar("T")


def spawn(coro: Coroutine[Any, Any, T], name: str, *, log_failure: bool = True) -> asyncio.Task[T]:
    """Run `coro` in the background on the running loop; `log_failure=False` when the caller
    reads the task's outcome itself."""
    task = asyncio.create_task(coro, name=name)
    if log_failure:
        task.add_done_callback(_log_failure)
    return task


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` (if any) and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task %s failed", task.get_name(), exc_info=error)
