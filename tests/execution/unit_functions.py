"""Functions the executor tests run as units: importable by name in a worker process (and, with this folder on
its PYTHONPATH, in a Ray worker)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def square(x: int) -> int:
    return x * x


def nap_then_square(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x * x


def threads() -> int:
    import torch

    return torch.get_num_threads()


def broken(message: str) -> int:
    raise KeyError(message)


def die_first_time(flag: str, x: int) -> int:
    """Its worker dies on the first attempt (no flag file yet), as if killed; the second attempt squares."""
    if not Path(flag).exists():
        Path(flag).touch()
        os._exit(9)
    return x * x


def always_die(x: int) -> int:
    os._exit(9)


def die_mid_training(flag: str, fn, args: tuple, **kwargs):
    """An experiment unit whose worker dies mid-training the first time: once its first epoch checkpoint is
    written (so the retry resumes from it). ``args[0]``: the ``ExperimentJob``."""
    if Path(flag).exists():
        return fn(*args, **kwargs)
    Path(flag).touch()
    job = args[0]
    _kill_when_written(Path(job.run_path) / "experiments" / job.experiment / "checkpoint.safetensors")
    return fn(*args, **kwargs)


def die_mid_trial(flag: str, fn, args: tuple, **kwargs):
    """A tuning trial's unit whose worker dies the first time once the trial's first epoch checkpoint is
    written. ``args[0]``: the ``TrialJob``."""
    if Path(flag).exists():
        return fn(*args, **kwargs)
    Path(flag).touch()
    _kill_when_written(Path(args[0].folder) / "checkpoint.safetensors")
    return fn(*args, **kwargs)


def _kill_when_written(path: Path) -> None:
    def watch() -> None:
        while not path.exists():
            time.sleep(0.005)
        os._exit(9)

    threading.Thread(target=watch, daemon=True).start()


def die_every_time(fn, args: tuple, **kwargs):
    os._exit(9)


def pid() -> int:
    return os.getpid()
