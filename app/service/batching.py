"""Concurrent single-query requests answered together: one encoder call and one index search for many clients.

Requests that share an index and every search setting queue under one key. A request that finds fewer than
``max_in_flight`` batches of its key running starts one at once (a lone client waits for nothing); the others wait
and go together in the next batch, up to ``max_batch`` queries. Where the query encoder runs outside the GIL (ONNX
Runtime), two batches in flight keep the cores busy: while one is encoded, the event loop answers the previous
batch's clients and collects the next. A PyTorch encoder is better served one batch at a time (docs/service.md's
benchmark has the figures).

A batch that fails is searched again one query at a time, so one client's bad query (or one that fails in the
index) answers that client alone, never the others it was batched with; an error about the index itself
(``shared_errors``) answers the whole batch at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Queue:
    waiting: list[tuple[str, asyncio.Future]] = field(default_factory=list)
    running: int = 0


class QueryBatcher:
    """Run ``search(queries)`` (blocking, in a worker thread) for batches of concurrent queries that share a key."""

    def __init__(self, max_batch: int = 32, shared_errors: tuple[type[BaseException], ...] = ()) -> None:
        self.max_batch = max_batch
        self.shared_errors = shared_errors
        """Errors about the index rather than a query (a missing shard): every request of the batch gets them at
        once instead of a retry per query."""
        self._queues: dict[Hashable, _Queue] = {}

    async def search(
        self, key: Hashable, query: str, search: Callable[[Sequence[str]], list[Any]], max_in_flight: int = 1
    ) -> Any:
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
                except Exception as err:  # noqa: BLE001 - answered to the requests it belongs to
                    if len(batch) > 1 and not isinstance(err, self.shared_errors):
                        await self._one_by_one(batch, search)
                    else:
                        for _, answer in batch:
                            _settle(answer, error=err)
                    continue
                for (_, answer), result in zip(batch, results):
                    _settle(answer, result)
        finally:
            queue.running -= 1
            if not queue.running and not queue.waiting:
                self._queues.pop(key, None)

    @staticmethod
    async def _one_by_one(
        batch: list[tuple[str, asyncio.Future]], search: Callable[[Sequence[str]], list[Any]]
    ) -> None:
        """A failed batch searched again query by query, so a query that fails answers its own client only."""
        loop = asyncio.get_running_loop()
        for query, answer in batch:
            try:
                _settle(answer, (await loop.run_in_executor(None, search, [query]))[0])
            except Exception as err:  # noqa: BLE001 - this request's own error
                _settle(answer, error=err)


def _settle(answer: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Answer a waiting request (unless its client has gone and the future was cancelled)."""
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(result)
