"""Micro-batching: inputs of concurrent requests go to ONNX Runtime together, in one call.

Requests put (inputs, future) on an asyncio queue. One task takes the first entry, gathers
more until ``max_batch_size`` inputs or ``max_wait_ms`` have passed, concatenates them and
runs the model in one dedicated thread, so the event loop keeps accepting requests while
ONNX Runtime works. While a batch runs the queue fills, so under load the next batch is
larger: throughput grows with concurrency, and a lone request waits at most ``max_wait_ms``.

The model's answer is an array, or a tuple of them (a ``NamedTuple`` such as ``Bundle.infer``'s
``Inference``: outputs and embedding), one row per input; each request gets its rows of each,
in the same type. A ``None`` in the tuple (a model without an embedding) stays ``None``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

_STOP = object()


def take_rows(result: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a batch's answer: of the array, or of each array of the tuple."""
    if not isinstance(result, tuple):
        return result[start:stop]
    return _same_kind(result, [None if part is None else part[start:stop] for part in result])


def join_rows(results: list[Any]) -> Any:
    """The answers of consecutive batches as one, of the same type (``take_rows``'s inverse)."""
    first = results[0]
    if not isinstance(first, tuple):
        return np.concatenate(results)
    return _same_kind(first, [None if first[k] is None else np.concatenate([r[k] for r in results])
                              for k in range(len(first))])


def _same_kind(like: tuple, parts: list[Any]) -> tuple:
    """``parts`` as a tuple of ``like``'s type: a NamedTuple's fields are positional."""
    make: Any = type(like)
    return make(*parts) if hasattr(like, "_fields") else tuple(parts)


class BatcherClosed(RuntimeError):
    """The batcher is not running (not started yet, or shutting down)."""


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[np.ndarray], Any],  # (N, ...) inputs → an (N, ...) array, or a tuple of them
        *,
        max_batch_size: int,
        max_wait_ms: float,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self._predict = predict
        self.max_batch_size = max_batch_size
        self._max_wait = max_wait_ms / 1000
        self._on_batch = on_batch  # (inputs, seconds) after every model call
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._accepting = False

    @property
    def running(self) -> bool:
        return self._accepting and self._task is not None and not self._task.done()

    async def start(self, warmup: np.ndarray | None = None) -> None:
        """Start the model thread (running ``warmup`` through the model first, if given) and the batching task."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="practica-onnx")
        if warmup is not None:  # loads the session and pays ONNX Runtime's first-call cost before any request
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._predict, warmup)
            except BaseException:  # a model that cannot warm up never starts: leave no thread behind
                self._executor.shutdown(wait=False)
                raise
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._gather_and_run(self._queue), name="practica-batcher")
        self._accepting = True

    async def stop(self) -> None:
        """Refuse new inputs, predict those already queued, then end."""
        # start() sets the queue and the executor before the task, so a task means both exist
        if self._task is None or self._queue is None or self._executor is None:
            return
        self._accepting = False
        self._queue.put_nowait(_STOP)
        await self._task
        self._task = None
        self._executor.shutdown(wait=True)

    async def predict(self, x: np.ndarray) -> Any:
        """(N, ...) inputs → the model's answer for them (e.g. (N, classes) probabilities, or an ``Inference``),
        predicted along with other requests' inputs."""
        queue = self._queue  # set whenever the batcher accepts inputs
        if not self._accepting or queue is None:
            raise BatcherClosed("the model is not accepting inputs (starting or shutting down)")
        loop = asyncio.get_running_loop()
        m = self.max_batch_size
        futures = []
        for i in range(0, len(x), m):  # a request larger than a batch is split across batches
            fut = loop.create_future()
            queue.put_nowait((x[i : i + m], fut))
            futures.append(fut)
        if len(futures) == 1:
            return await futures[0]
        return join_rows(list(await asyncio.gather(*futures)))

    async def _gather_and_run(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        held = None  # an entry that did not fit the last batch: it opens the next one
        while True:
            entry = held if held is not None else await queue.get()
            held = None
            if entry is _STOP:
                return
            batch, size = [entry], len(entry[0])
            deadline = loop.time() + self._max_wait
            while size < self.max_batch_size:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        entry = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    entry = queue.get_nowait()
                if entry is _STOP or size + len(entry[0]) > self.max_batch_size:
                    held = entry
                    break
                batch.append(entry)
                size += len(entry[0])
            await self._run(batch)

    async def _run(self, batch: list[tuple[np.ndarray, asyncio.Future]]) -> None:
        batch = [e for e in batch if not e[1].done()]  # a cancelled request (client gone) needs no prediction
        if not batch:
            return
        started = time.perf_counter()
        try:
            x = batch[0][0] if len(batch) == 1 else np.concatenate([x for x, _ in batch])
            answer = await asyncio.get_running_loop().run_in_executor(self._executor, self._predict, x)
        except Exception as err:  # noqa: BLE001 — any failure: the requests fail (the app answers 500); the batcher goes on
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        if self._on_batch is not None:
            self._on_batch(len(x), time.perf_counter() - started)
        start = 0
        for x, fut in batch:
            if not fut.done():
                fut.set_result(take_rows(answer, start, start + len(x)))
            start += len(x)
