"""``train.precision: auto``: bf16 autocast where it makes *this* network train faster on *this* processor.

Whether bf16 pays depends on more than a flag: AMX tiles multiply bf16 matrices several times faster than
fp32, an AMD EPYC's ``avx512_bf16`` without AMX still trains ``fastnet`` about twice as fast as in fp32, and
a small dense network on either spends its step on element-wise work that autocast only makes dearer
(casts). So ``auto`` measures: where the processor can compute in bf16 at all, it times a few training steps
(forward, loss, backward, optimizer step) of the run's network, at the run's batch size, on a copy of it
and of its optimizer, in fp32 and under bf16 autocast, interleaved; bf16 is chosen only when its fastest step
is at least ``MARGIN`` faster than fp32's. The real run's weights, optimizer and random stream are untouched.

A step is timed by the wall clock, and by the process's CPU time too: on a machine with more runnable threads
than cores (load average above the cores this process may use: other runs, a suite's parallel workers), wall
time measures the scheduler as much as the step, and a few samples can all be disturbed, by different amounts.
There the CPU time decides: the work each precision's step does, which waiting for a core does not add to.

The decision is cached for the process and, given a file, for the run directory, keyed by the processor,
the thread count, the network, the batch size and the input shape: a resumed run trains in the precision it
started in, and the next experiment of a suite with the same network does not measure again.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from practica.training.history import PrecisionChoice

# bf16 must make a step at least this much faster (its step at most 1/1.10 of fp32's). Below that the
# gain is within what a short measurement on a shared machine can tell apart (a few percent between
# rounds), and a tie goes to fp32: the exact arithmetic the evaluation and the exported model use.
MARGIN = 1.10
WARMUP_STEPS = 1  # per precision, untimed: oneDNN builds its kernels for the shapes on the first step
ROUNDS = 3  # timed samples per precision, in the order fp32 bf16 bf16 fp32 fp32 bf16: a drift hurts both alike
# Measuring stops after the second round (both orders, two samples each, so one disturbed sample cannot
# decide) when the result is this far from the margin either way (bf16 ≥ 1.65× or ≤ 0.73× as fast): a third
# round only lowers each precision's fastest sample, and would have to find one a third faster than both so
# far to cross the margin. AMX against fp32, or a small network's casts, end there.
DECISIVE = 1.5
# A timed sample lasts at least this long: a small network's sub-millisecond step is timed over several calls
# (at most MAX_CALLS), or the clock's and the scheduler's jitter would decide.
MIN_SAMPLE_S = 0.02
MAX_CALLS = 64

Clock = Callable[[], float]
Step = Callable[[], None]


@dataclass(frozen=True)
class Load:
    """How busy the machine is: the 1-minute load average (threads running or waiting to run) against the
    cores this process may use."""

    average: float
    cores: int

    @property
    def oversubscribed(self) -> bool:
        """More threads want to run than there are cores: a timed step waits its turn, by chance."""
        return self.average > self.cores

    def __str__(self) -> str:
        return f"load {self.average:.1f} on {self.cores} cores"


def machine_load() -> Load | None:
    """The machine's ``Load`` now; None where the system keeps no load average."""
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has none
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return Load(average, cores)


@dataclass(frozen=True)
class Probe:
    """What the measurement found: the milliseconds of a training step in each precision (its fastest
    sample), by ``clock`` (``wall`` time, or on an oversubscribed machine the process's ``cpu`` time, all
    threads together), the machine's ``load`` as it began, and what measuring cost in seconds (the warm-up
    included)."""

    ms_fp32: float
    ms_bf16: float
    seconds: float
    clock: Literal["wall", "cpu"] = "wall"
    load: Load | None = None


Measure = Callable[[], Probe]


# ---------------------------------------------------------------------------------------------- the processor


@dataclass(frozen=True)
class Processor:
    """A processor by name, with the bf16 features it has (CPU flags ``amx_bf16``, ``avx512_bf16``; a GPU's
    ``bf16``)."""

    name: str
    features: tuple[str, ...] = ()
    gpu: bool = False

    def __str__(self) -> str:
        return f"{self.name} ({', '.join(self.features)})" if self.features else f"{self.name} (no bf16 units)"


def this_processor(device: torch.device) -> Processor:
    """The processor ``device`` computes on: a GPU's name, or the CPU's model name from ``/proc/cpuinfo``
    (``platform`` elsewhere) and the bf16 flags torch finds."""
    if device.type == "cuda":
        return Processor(torch.cuda.get_device_name(device), ("bf16",) if torch.cuda.is_bf16_supported() else (),
                         gpu=True)
    return _this_cpu()


@functools.cache
def _this_cpu() -> Processor:
    name = _cpuinfo_model_name() or platform.processor() or platform.machine() or "unknown CPU"
    features = tuple(flag for flag, check in (("amx_bf16", "_is_amx_tile_supported"),
                                              ("avx512_bf16", "_is_avx512_bf16_supported"))
                     if _torch_cpu_has(check))
    return Processor(name, features)


def _torch_cpu_has(check: str) -> bool:
    # torch's own capability checks (the instruction sets its kernels dispatch on); absent in old versions
    probe = getattr(torch.cpu, check, None)
    return bool(probe is not None and probe())


def _cpuinfo_model_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def can_bf16(processor: Processor) -> bool:
    """Whether the processor has bf16 arithmetic at all; without it bf16 is emulated and never worth measuring."""
    return bool(processor.features)


# ------------------------------------------------------------------------------------------------ the rule


def choose(setting: str, processor: Processor, measure: Measure) -> PrecisionChoice:
    """``train.precision`` made a decision. ``fp32`` and ``bf16`` are taken as set; ``auto`` is fp32 on a
    processor without bf16 arithmetic, bf16 on a GPU with it, and on a CPU with it bf16 only when ``measure()``
    finds its step ``MARGIN`` faster."""
    if setting in ("fp32", "bf16"):
        return PrecisionChoice(setting=setting, used="bf16" if setting == "bf16" else "fp32",
                               processor=str(processor), reason="set in the suite")
    if processor.gpu:  # tensor cores: bf16 matrices at twice fp32's rate or more, measured once and for all
        return PrecisionChoice(setting="auto", used="bf16" if can_bf16(processor) else "fp32",
                               processor=str(processor), reason="a GPU with bf16" if can_bf16(processor) else
                               "a GPU without bf16")
    if not can_bf16(processor):
        return PrecisionChoice(setting="auto", used="fp32", processor=str(processor),
                               reason=f"{processor.name} has no bf16 arithmetic (no amx_bf16 or avx512_bf16)")
    probe = measure()
    faster = probe.ms_fp32 / probe.ms_bf16
    bf16 = faster >= MARGIN
    by = f" by CPU time ({probe.load}: wall time would time the scheduler)" if probe.clock == "cpu" else ""
    # Rounded down when short of the margin: 1.097× must not read '1.10×, short of 1.10×'.
    reason = (f"bf16 steps {faster:.2f}× as fast as fp32's{by}" if bf16 else
              f"bf16 steps {math.floor(faster * 100) / 100:.2f}× as fast as fp32's{by}, short of the {MARGIN:.2f}× "
              "that bf16 must reach")
    return PrecisionChoice(setting="auto", used="bf16" if bf16 else "fp32", processor=str(processor),
                           ms_fp32=probe.ms_fp32, ms_bf16=probe.ms_bf16, probe_seconds=probe.seconds, reason=reason,
                           clock=probe.clock)


# ---------------------------------------------------------------------------------------------- measuring


def time_interleaved(step_fp32: Step, step_bf16: Step, *, rounds: int = ROUNDS, warmup: int = WARMUP_STEPS,
                     min_sample_s: float = MIN_SAMPLE_S, decisive: float = DECISIVE,
                     clock: Clock = time.perf_counter, cpu_clock: Clock = time.process_time,
                     load: Callable[[], Load | None] = machine_load) -> Probe:
    """A step's time in each precision: after ``warmup`` untimed calls of each, ``rounds`` samples of each in
    the order A B B A A B …, so that a neighbour that slows the machine for a while slows both and a steady
    drift cancels; each sample times enough calls to last ``min_sample_s`` (judged from the warm-up). Each
    precision's fastest sample counts: interference only ever adds time, so the least disturbed sample is the
    nearest to what the step itself costs (``timeit``'s reasoning). It stops early once the ratio is ``decisive``
    times beyond ``MARGIN`` either way.

    Each sample is timed by ``clock`` (wall) and ``cpu_clock`` (the process's CPU time); when ``load()`` finds the
    machine oversubscribed as measuring begins, the CPU times decide (and stop it early): there no sample may be
    undisturbed, and waiting for a core takes wall time but no CPU time."""
    started = clock()
    busy = load()
    by_cpu = busy is not None and busy.oversubscribed
    warm = {False: math.inf, True: math.inf}
    for _ in range(warmup):
        for bf16 in (False, True):
            t = clock()
            (step_bf16 if bf16 else step_fp32)()
            warm[bf16] = min(warm[bf16], clock() - t)
    quickest = min(warm.values())
    calls = 1 if not 0 < quickest < min_sample_s else min(MAX_CALLS, math.ceil(min_sample_s / quickest))
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    times = cpu if by_cpu else wall  # the samples that decide
    for i in range(rounds):
        for bf16 in ((False, True) if i % 2 == 0 else (True, False)):
            step = step_bf16 if bf16 else step_fp32
            t, c = clock(), cpu_clock()
            for _ in range(calls):
                step()
            wall[bf16].append((clock() - t) / calls)
            cpu[bf16].append((cpu_clock() - c) / calls)
        ratio = min(times[False]) / max(min(times[True]), 1e-12)
        if i >= 1 and not MARGIN / decisive < ratio < MARGIN * decisive:
            break
    return Probe(ms_fp32=1000 * min(times[False]), ms_bf16=1000 * min(times[True]), seconds=clock() - started,
                 clock="cpu" if by_cpu else "wall", load=busy)


def channels_last(images: bool, bf16: bool, device_type: str) -> bool:
    """Whether a run lays its images (and the network) out channels-last: on a CPU always, oneDNN's convolutions
    being fastest in NHWC in fp32 too (1.2–1.3× a training step of keras_cnn and resnet20); on CUDA in bf16.
    ``Device`` and the probe both ask here, so that the probe times each precision as the run would train it."""
    return images and (bf16 or device_type == "cpu")


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` is a batch of images laid out channels-last (and not also contiguous as NCHW, as a batch
    with one pixel or one channel is): what the element-wise layers match their own layout to."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def training_steps(model: nn.Module, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                   make_optimizer: Callable[[nn.Module], torch.optim.Optimizer], x: torch.Tensor, y: torch.Tensor,
                   *, images: bool) -> tuple[Step, Step]:
    """Two training steps of copies of ``model``, each with its own optimizer from ``make_optimizer``: one in
    fp32, one under bf16 autocast (images laid out as ``Device`` lays them out: ``channels_last``). ``model``
    itself is never touched."""

    def step_on(bf16: bool) -> Step:
        net = copy.deepcopy(model).train()
        xb = x
        if channels_last(images, bf16, x.device.type):
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            xb = x.contiguous(memory_format=torch.channels_last)
        optimizer = make_optimizer(net)

        def step() -> None:
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
                value = loss(net(xb), y)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)

        return step

    return step_on(False), step_on(True)


def measure_training(model: nn.Module, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     make_optimizer: Callable[[nn.Module], torch.optim.Optimizer], x: torch.Tensor,
                     y: torch.Tensor, *, images: bool, rounds: int = ROUNDS, clock: Clock = time.perf_counter) -> Probe:
    """``time_interleaved`` over ``training_steps``, with the random state (CPU and GPU) restored after:
    dropout in the probe draws nothing from the real run's stream."""
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        started = clock()
        step_fp32, step_bf16 = training_steps(model, loss, make_optimizer, x, y, images=images)
        probe = time_interleaved(step_fp32, step_bf16, rounds=rounds, clock=clock)
        return replace(probe, seconds=clock() - started)  # copying the model counts too


# ------------------------------------------------------------------------------------------------ caching

_DECIDED: dict[str, PrecisionChoice] = {}  # this process's decisions, by ``probe_key``


def probe_key(processor: Processor, model: nn.Module, batch_size: int, input_shape: tuple[int, ...]) -> str:
    """What a measurement holds for: the processor, the threads it may use, the network (its modules and
    parameter shapes, as ``repr`` prints them), the batch size and the input shape."""
    network = hashlib.sha256(repr(model).encode()).hexdigest()[:16]
    shape = "x".join(str(d) for d in input_shape)
    return f"{processor}|threads {torch.get_num_threads()}|net {network}|batch {batch_size}|input {shape}"


def decide(setting: str, processor: Processor, key: str, measure: Measure,
           cache: Path | None = None) -> PrecisionChoice:
    """``choose``, with ``auto``'s measured decisions remembered by ``key``: in the process, and in ``cache``
    (a JSON file, e.g. the run directory's) when given. A reused decision costs nothing (``probe_seconds`` 0)."""
    if setting != "auto" or processor.gpu or not can_bf16(processor):
        return choose(setting, processor, measure)
    if key in _DECIDED:
        return _reused(_DECIDED[key])
    stored = _read_cache(cache).get(key)
    if stored is not None:
        _DECIDED[key] = stored
        return _reused(stored)
    choice = choose(setting, processor, measure)
    _DECIDED[key] = choice
    if cache is not None:
        _write_cache(cache, key, choice)
    return choice


def forget_decisions() -> None:
    """Clear the process's cache (tests; or after moving a process to other cores)."""
    _DECIDED.clear()


def _reused(choice: PrecisionChoice) -> PrecisionChoice:
    return PrecisionChoice(**{**asdict(choice), "probe_seconds": 0.0,
                              "reason": f"{choice.reason} (measured earlier for this processor, network and batch)"
                              if "measured earlier" not in choice.reason else choice.reason})


def _read_cache(path: Path | None) -> dict[str, PrecisionChoice]:
    if path is None or not path.is_file():
        return {}
    try:
        return {k: PrecisionChoice(**v) for k, v in json.loads(path.read_text()).items()}
    except (ValueError, TypeError):  # a damaged or older file: measure again and rewrite it
        return {}


def _write_cache(path: Path, key: str, choice: PrecisionChoice) -> None:
    # Read, add, replace atomically: experiments in worker processes may write at once; a lost entry only
    # costs a later measurement.
    entries = {k: asdict(v) for k, v in _read_cache(path).items()}
    entries[key] = asdict(choice)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
    os.replace(tmp, path)
