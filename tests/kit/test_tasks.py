"""kit.tasks: a spawned task is held until it ends; ``stop`` cancels and waits for it."""

from __future__ import annotations

import asyncio

from services.kit import tasks


async def test_stop_cancels_a_running_task_and_waits_for_its_cleanup() -> None:
    cleaned = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # clean-up that itself awaits
            cleaned.set()

    task = tasks.spawn(work(), name="work")
    await asyncio.sleep(0)
    await tasks.stop(task)
    assert task.cancelled()
    assert cleaned.is_set()


async def test_stop_leaves_an_ended_task_as_it_ended() -> None:
    async def answer() -> int:
        return 42

    task = tasks.spawn(answer(), name="answer")
    await task
    await tasks.stop(task)
    assert task.result() == 42
