"""Which model answers a request: the app asks a ``Deployment``, never a bundle.

- The **primary** answers every request not in the canary. Served from a registry alias, it is hot-swapped
  when the alias moves: a watcher (an asyncio task, polling ``registry.json`` every ``poll_s``) loads the new
  version's bundle, starts its ONNX session and runs a warm-up batch in its own model thread, then swaps it in
  in one assignment. A request holds the model it was given (``answering``) until it has answered, so requests
  in flight finish on the old model and new ones go to the new; the old one's batcher is stopped once its last
  request is done. A version that cannot be loaded is not swapped in: logged, counted, the old one serves on.
- The **shadow** sees a copy of every request's inputs the primary answered, after the response is sent, in
  its own batcher; its answers are compared with the primary's and recorded (``/metrics``, ``on_prediction``),
  never returned.
- The **canary** answers a sticky share of clients (``canary.py``) until its error rate or latency crosses a
  limit; then it takes no more traffic, and the rollback is logged, counted and recorded in the registry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from starlette.background import BackgroundTask

from practica.bundle.load import Bundle, load_bundle
from practica.bundle.ood import OodScorer
from practica.errors import BundleError
from practica.serving.batcher import BatcherClosed, MicroBatcher
from practica.serving.canary import CanaryJudge, CanaryPolicy, in_canary
from practica.serving.errors import ApiError
from practica.serving.payload import Scored, scored_inference
from practica.serving.prediction_rows import Role, ServedPrediction, prediction_rows
from practica.serving.rollout_metrics import RolloutMetrics
from practica.serving.settings import ServeSettings
from practica.tasks import get_task

if TYPE_CHECKING:
    from practica.registry import Registry
    from practica.serving.metrics import ServiceMetrics

log = logging.getLogger("practica.serving")

SHADOW_BACKLOG = 1024  # inputs waiting for the shadow at most; more are dropped (and counted), never waited for


class ServedModel:
    """One bundle at work in one role: its batcher, and how many requests hold it now."""

    def __init__(self, bundle: Bundle, role: Role, *, registry_version: int | None = None) -> None:
        self.bundle = bundle
        self.role = role
        self.registry_version = registry_version
        self.version = bundle.version
        self.card_json = orjson.dumps(bundle.card)  # what /v1/model serves
        self.has_classes = get_task(bundle.task).has_classes
        rule = bundle.threshold
        self.threshold = None if rule is None else {"positive": rule.positive, "value": rule.value}
        self._batcher: MicroBatcher | None = None
        self._in_flight = 0
        self._idle: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return self._batcher is not None and self._batcher.running

    async def start(self, settings: ServeSettings, on_batch: Callable[[int, float], None] | None = None) -> None:
        """Start its batcher; the warm-up batch (which also starts the ONNX session) runs in the model thread."""
        # one ONNX call gives the outputs and the embedding; the OOD score is computed beside them (numpy)
        self._batcher = MicroBatcher(scored_inference(self.bundle, OodScorer.from_bundle(self.bundle)),
                                     max_batch_size=settings.max_batch_size,
                                     max_wait_ms=settings.max_wait_ms, on_batch=on_batch)
        await self._batcher.start(warmup=self.bundle.input.example(1))

    async def predict(self, x: np.ndarray) -> Scored:
        if self._batcher is None:
            raise BatcherClosed("the model is not accepting inputs (starting or shutting down)")
        return await self._batcher.predict(x)

    def outputs(self, probs: np.ndarray) -> tuple[list[str] | list[float], list[float] | None]:
        """Per input, what it was answered (a label, or a regressor's value) and that label's probability."""
        if not self.has_classes:
            return np.asarray(probs, dtype=np.float64).reshape(-1).tolist(), None
        chosen = self.bundle.decide(probs)
        confidence = np.take_along_axis(probs, chosen[:, None], axis=1)[:, 0].tolist()
        return [self.bundle.classes[i] for i in chosen.tolist()], confidence

    def acquire(self) -> None:
        self._in_flight += 1

    def release(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._idle is not None:
            self._idle.set()

    async def retire(self) -> None:
        """Wait for the requests holding it to finish, then drain and stop its batcher."""
        while self._in_flight:
            self._idle = asyncio.Event()
            await self._idle.wait()
        if self._batcher is not None:
            await self._batcher.stop()


@dataclass(frozen=True)
class Challenger:
    """A shadow's or canary's bundle, and how the registry knows it (a canary's alias is pointed back when it
    is rolled back)."""

    bundle: Bundle
    registry_version: int | None = None
    alias: str | None = None


@dataclass(frozen=True)
class RegistrySource:
    """The primary comes from ``alias`` of ``registry`` (at ``version`` when serving started)."""

    registry: Registry
    alias: str
    version: int
    poll_s: float = 1.0


@dataclass
class CanaryState:
    fraction: float
    policy: CanaryPolicy
    alias: str | None
    judge: CanaryJudge = field(init=False)
    rolled_back: str | None = None  # why, once it was

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"the canary's fraction must be in (0, 1], not {self.fraction}")
        self.judge = CanaryJudge(self.policy)


class Deployment:
    """The primary served model, the optional shadow and canary, and the watcher that hot-swaps the primary."""

    def __init__(self, primary: Bundle, *, source: RegistrySource | None = None, shadow: Challenger | None = None,
                 canary: Challenger | None = None, canary_fraction: float = 0.0,
                 canary_policy: CanaryPolicy | None = None) -> None:
        self.primary = ServedModel(primary, "primary", registry_version=None if source is None else source.version)
        self.shadow = None if shadow is None else ServedModel(shadow.bundle, "shadow",
                                                              registry_version=shadow.registry_version)
        self.canary = None if canary is None else ServedModel(canary.bundle, "canary",
                                                              registry_version=canary.registry_version)
        self._canary_model = self.canary  # the canary, taking traffic or not (``canary`` is None once rolled back)
        self._canary = None if canary is None else CanaryState(canary_fraction, canary_policy or CanaryPolicy(),
                                                               canary.alias)
        for other in (shadow, canary):
            if other is not None:
                check_compatible(primary, other.bundle)
        self.source = source
        # how to build it again (JSON-able; ``rollout.build_deployment`` sets it): what each worker process builds
        self.recipe: dict[str, Any] | None = None
        self.input = primary.input  # fixed: the app parses requests for it, and a new version must take the same
        # Called with every answered (and shadowed) input's row, after the response is sent; must not block.
        self.on_prediction: Callable[[list[ServedPrediction]], None] | None = None
        self.on_swap: Callable[[Bundle], None] | None = None  # told of every new primary (the monitor follows it)
        self._settings = ServeSettings()
        self._metrics: ServiceMetrics | None = None
        self._rollout: RolloutMetrics | None = None
        self._watcher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._shadow_backlog = 0

    # ---- the app's side ---------------------------------------------------------------------------------------
    def attach(self, settings: ServeSettings, metrics: ServiceMetrics) -> None:
        """Called once by ``create_app``: the batchers' settings, and the app's metrics to report in."""
        self._settings, self._metrics, self._rollout = settings, metrics, RolloutMetrics(metrics.registry)

    async def start(self) -> None:
        on_batch = None if self._metrics is None else self._metrics.observe_batch
        await self.primary.start(self._settings, on_batch)
        if self.shadow is not None:
            await self.shadow.start(self._settings)
        if self.canary is not None:
            await self.canary.start(self._settings, on_batch)
            self._rollout_metrics().canary_active.labels(self.canary.version).set(1)
        if self.source is not None:
            self._watcher = asyncio.create_task(self._watch(self.source), name="practica-registry-watcher")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._watcher
        while self._tasks:  # shadow copies and retiring models finish first
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for served in (self.primary, self.canary, self.shadow):  # a rolled-back canary was retired already
            if served is not None:
                await served.retire()

    @property
    def version(self) -> str:
        """The primary's version: what answers (all but the canary's clients)."""
        return self.primary.version

    def release_sessions(self) -> None:
        """Drop every model's ONNX Runtime session (a process that only starts workers needs none)."""
        for served in (self.primary, self.shadow, self.canary):
            if served is not None:
                served.bundle.release_session()

    @property
    def ready(self) -> bool:
        return self.primary.running

    def model_for(self, client: str) -> ServedModel:
        """The model that answers ``client`` now: the canary for its share of clients, else the primary."""
        canary, state = self.canary, self._canary
        if canary is not None and state is not None and in_canary(client, state.fraction):
            return canary
        return self.primary

    @contextmanager
    def answering(self, client: str) -> Iterator[ServedModel]:
        """The model that answers this client's request, held until the ``with`` block ends (a swap meanwhile
        does not stop it); the request's latency and outcome count for that model (a canary is judged on them)."""
        canary = self.canary
        served = self.model_for(client)
        served.acquire()
        started = time.perf_counter()
        failed = None  # None: the request was cancelled (its client left), which judges no model
        try:
            yield served
            failed = False
        except Exception as err:
            failed = not (isinstance(err, ApiError) and err.status < 500)  # a bad request is not the model's fault
            raise
        finally:
            served.release()
            seconds = time.perf_counter() - started
            if failed is False:
                self._rollout_metrics().model_latency.labels(served.version, served.role).observe(seconds)
            if failed is not None and served is canary:
                self._judge_canary(served, seconds, failed)

    def after_response(self, served: ServedModel, x: np.ndarray, answer: Scored, *, request_id: str,
                       client: str | None, seconds: float) -> BackgroundTask | None:
        """What runs once the response is sent: the rows for ``on_prediction``, the copy for the shadow."""
        if self.shadow is None and self.on_prediction is None:
            return None
        return BackgroundTask(self._after_response, served, x, answer, request_id, client, seconds)

    def describe(self) -> dict[str, Any]:
        """What /v1/health adds about the deployment: the registry alias, shadow and canary."""
        out: dict[str, Any] = {}
        if self.source is not None:
            out["registry"] = {"alias": self.source.alias, "version": self.primary.registry_version}
        if self.shadow is not None:
            out["shadow"] = {"model_version": self.shadow.version}
        if self._canary is not None and self._canary_model is not None:
            out["canary"] = {"model_version": self._canary_model.version, "fraction": self._canary.fraction,
                             "active": self.canary is not None, "rolled_back": self._canary.rolled_back}
        return out

    # ---- hot reload -------------------------------------------------------------------------------------------
    async def swap_primary(self, bundle: Bundle, registry_version: int | None = None) -> None:
        """Warm ``bundle`` up, make it the primary in one step; the old one is retired once its requests end."""
        check_compatible(self.primary.bundle, bundle)
        new = ServedModel(bundle, "primary", registry_version=registry_version)
        await new.start(self._settings, None if self._metrics is None else self._metrics.observe_batch)
        old, self.primary = self.primary, new
        if self._metrics is not None:
            self._metrics.serving(new.version)
        self._rollout_metrics().reloads.labels(new.version).inc()
        log.info("now serving %s (was %s)", new.version, old.version)
        if self.on_swap is not None:
            self.on_swap(bundle)
        self._spawn(old.retire())  # drained in the background; stop() waits for it

    async def _watch(self, source: RegistrySource) -> None:
        from practica.registry.store import STATE_FILE

        state_file = source.registry.root / STATE_FILE
        seen: tuple[int, int, int] | None = None
        refused: int | None = None  # a version that failed to load is not tried again every poll
        while True:
            await asyncio.sleep(source.poll_s)
            try:
                st = state_file.stat()
            except OSError:
                continue
            if (st.st_mtime_ns, st.st_ino, st.st_size) == seen:
                continue
            seen = (st.st_mtime_ns, st.st_ino, st.st_size)
            try:
                target = (await asyncio.to_thread(source.registry.aliases)).get(source.alias)
            except Exception as err:  # noqa: BLE001 — a registry being repaired: keep serving, look again later
                log.warning("cannot read the registry at %s (%s); %s keeps serving", source.registry.root, err,
                            self.primary.version)
                continue
            if target is None or target in (self.primary.registry_version, refused):
                continue
            try:
                bundle = await asyncio.to_thread(load_bundle, source.registry.path(target),
                                                 threads=self.primary.bundle.threads)
                await self.swap_primary(bundle, target)
                refused = None
            except Exception as err:  # noqa: BLE001 — whatever broke, the old version keeps serving
                refused = target
                self._rollout_metrics().reload_failures.labels(f"v{target}").inc()
                log.error("alias %r moved to version %d, which was not swapped in (%s); %s keeps serving",
                          source.alias, target, err, self.primary.version)

    # ---- canary -----------------------------------------------------------------------------------------------
    def _judge_canary(self, canary: ServedModel, seconds: float, failed: bool) -> None:
        rollout, state = self._rollout_metrics(), self._canary
        rollout.canary_requests.labels(canary.version, "error" if failed else "ok").inc()
        if state is None or self.canary is not canary:
            return
        verdict = state.judge.observe(seconds, failed)
        if verdict is None:
            return
        kind, why = verdict
        self.canary, state.rolled_back = None, why  # no new request goes to it
        rollout.canary_rollbacks.labels(canary.version, kind).inc()
        rollout.canary_active.labels(canary.version).set(0)
        log.warning("canary %s rolled back: %s; its clients go to %s", canary.version, why, self.primary.version)
        self._spawn(self._retire_canary(canary, why, state.alias))

    async def _retire_canary(self, canary: ServedModel, why: str, alias: str | None) -> None:
        if self.source is not None and canary.registry_version is not None:
            try:
                await asyncio.to_thread(self.source.registry.record_canary_rollback, canary.registry_version,
                                        reason=why, alias=alias)
            except Exception as err:  # noqa: BLE001 — the rollback stands; only its record is missing
                log.error("the canary's rollback could not be recorded in the registry at %s: %s",
                          self.source.registry.root, err)
        await canary.retire()

    # ---- shadow and the prediction hook -----------------------------------------------------------------------
    async def _after_response(self, served: ServedModel, x: np.ndarray, answer: Scored, request_id: str,
                              client: str | None, seconds: float) -> None:
        answered, confidence = served.outputs(answer.outputs)
        self._hand_on(lambda: prediction_rows(x, answered, confidence, answer, model_version=served.version,
                                              role=served.role, request_id=request_id, client=client,
                                              latency_ms=seconds * 1000))
        shadow = self.shadow
        if shadow is None or not shadow.running or served.role != "primary":  # compared with production only
            return
        if self._shadow_backlog + len(x) > SHADOW_BACKLOG:
            self._rollout_metrics().shadow_dropped.labels(shadow.version).inc(len(x))
            return
        self._shadow_backlog += len(x)
        self._spawn(self._mirror(shadow, x, answered, request_id, client))

    async def _mirror(self, shadow: ServedModel, x: np.ndarray, answered: list, request_id: str,
                      client: str | None) -> None:
        rollout = self._rollout_metrics()
        started = time.perf_counter()
        try:
            shadowed = await shadow.predict(x)
        except Exception as err:  # noqa: BLE001 — the shadow's failures are its own: counted, never felt by clients
            rollout.shadow_errors.labels(shadow.version).inc()
            log.warning("shadow %s failed on request %s: %s", shadow.version, request_id, err)
            return
        finally:
            self._shadow_backlog -= len(x)
        seconds = time.perf_counter() - started
        rollout.model_latency.labels(shadow.version, "shadow").observe(seconds)
        outputs, confidence = shadow.outputs(shadowed.outputs)
        if shadow.has_classes:
            rollout.observe_shadow(shadow.version, len(x), sum(a == b for a, b in zip(outputs, answered, strict=True)))
        self._hand_on(lambda: prediction_rows(x, outputs, confidence, shadowed, model_version=shadow.version,
                                              role="shadow", request_id=request_id, client=client,
                                              latency_ms=seconds * 1000))

    def _hand_on(self, rows: Callable[[], list[ServedPrediction]]) -> None:
        if self.on_prediction is None:
            return
        try:
            self.on_prediction(rows())
        except Exception:  # noqa: BLE001 — a log that fails must not fail serving
            log.exception("on_prediction failed; the predictions were answered but not recorded")

    # ---- internals --------------------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # a strong reference: the loop keeps only weak ones
        task.add_done_callback(self._tasks.discard)

    def _rollout_metrics(self) -> RolloutMetrics:
        if self._rollout is None:  # a deployment used without an app: its own, unexported instruments
            from prometheus_client import CollectorRegistry

            self._rollout = RolloutMetrics(CollectorRegistry())
        return self._rollout


def check_compatible(serving: Bundle, other: Bundle) -> None:
    """A second model behind the same routes must take the same inputs and do the same task."""
    if not serving.input.same_requests(other.input) or other.task != serving.task:
        raise BundleError(f"{other.root} ({other.version}) takes {other.input.describe()} for {other.task}, but the "
                          f"service answers for {serving.input.describe()} ({serving.task}); it cannot answer the "
                          "same requests. Serve it on its own: practica serve BUNDLE")
