"""Task supervision: every long-running task of the bed is started here, and a task that dies
is a technical alarm (a failure of the alarm system itself is never silent)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSupervisor:
    def __init__(self, on_death: Callable[[str, BaseException], None]) -> None:
        self._on_death = on_death
        self.tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._done)
        self.tasks.append(task)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.critical("task %s died: %r", task.get_name(), exc, exc_info=exc)
            self._on_death(task.get_name(), exc)

    def alive(self, *names: str) -> bool:
        """Every task of these names is still running (the watchdog's health)."""
        return all(not t.done() for t in self.tasks if t.get_name() in names)

    async def stop(self) -> None:
        """Cancel every task, newest first, and wait for each to end."""
        for task in reversed(self.tasks):
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()


def off_loop(fn: Callable[..., None]) -> Callable[..., None]:
    """Run ``fn`` in a worker thread (fire and forget, errors logged): the event loop never
    waits for the database."""

    def call(*args: Any) -> None:
        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("%s failed", getattr(fn, "__name__", "background write"))

        try:
            asyncio.get_running_loop().run_in_executor(None, run)
        except RuntimeError:  # no loop (command line): just do it
            run()

    return call
