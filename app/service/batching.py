"""Concurrent single-query requests answered together: one encoder call and one index search for many clients.

Requests that share an index and every search setting queue under one key. A request that finds fewer than
``max_in_flight`` batches of its key running starts one at once (a lone client waits for nothing); the others wait
and go together in the next batch, up to ``max_batch`` queries. Where the query encoder runs outside the GIL (ONNX
Runtime), two batches in flight keep the cores busy: while one is encoded, the event loop answers the previous
batch's clients and collects the next. A PyTorch encoder is better served one batch at a time (the README's service
benchmark has the figures).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence


@dataclass
class _Queue:
    waiting: list[tuple[str, asyncio.Future]] = field(default_factory=list)
    running: int = 0


class QueryBatcher:
    """Run ``search(queries)`` (blocking, in a worker thread) for batches of concurrent queries that share a key."""

    def __init__(self, max_batch: int = 32) -> None:
        self.max_batch = max_batch
        self._queues: dict[Hashable, _Queue] = {}

    async def search(self, key: Hashable, query: str, search: Callable[[Sequence[str]], list[Any]], max_in_flight: int = 1) -> Any:
        """The answer to ``query``, from a batch of the queries waiting under ``key``, with at most ``max_in_flight``
        batches of that key running at once."""
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(key, _Queue())
        answer: asyncio.Future = loop.create_future()
        queue.waiting.append((query, answer))
        if queue.running < max_in_flight:
            queue.running += 1
            loop.create_task(self._drain(key, queue, search))
        return await answer

    async def _drain(self, key: Hashable, queue: _Queue, search: Callable[[Sequence[str]], list[Any]]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting[: self.max_batch], queue.waiting[self.max_batch :]
                try:
                    results = await loop.run_in_executor(None, search, [query for query, _ in batch])
                except Exception as err:  # noqa: BLE001 - every request of the batch gets the error
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(err)
                    continue
                for (_, answer), result in zip(batch, results):
                    if not answer.done():
                        answer.set_result(result)
        finally:
            queue.running -= 1
            if not queue.running and not queue.waiting:
                self._queues.pop(key, None)
