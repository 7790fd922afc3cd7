"""The machine a bench result was measured on, and the precision it trained in: every result names both.

The same model trains twice as fast in bf16 on a processor with bf16 units (AMX, or ``avx512_bf16``) and
slower on one without, so a time without its processor and precision cannot be compared with another.
Standard library only: it runs in every bench worker, the TensorFlow one too.

    from machine import machine_info, describe_machine, describe_precision
    info = machine_info()
    print(describe_machine(info))  # 'Intel(R) Xeon(R) Processor (amx_bf16, avx512_bf16), 2 usable cores, load 1.9'
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# The instruction sets that decide how fast a CPU trains: bf16 (AMX tiles, AVX-512 BF16) and the rest.
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def machine_info() -> dict[str, Any]:
    """The processor's model name and flags (from ``/proc/cpuinfo``; ``platform`` elsewhere), its cores, the
    platform and the load average as the bench starts (a shared machine's figures are not a quiet one's)."""
    cpu, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor() or platform.machine() or "unknown CPU",
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "flags": [f for f in FLAGS if f in flags],
        "bf16_units": [f for f in BF16_FLAGS if f in flags],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def describe_machine(info: dict[str, Any]) -> str:
    """One line: the processor, its bf16 units, the usable cores and the load when the bench started."""
    units = ", ".join(info["bf16_units"]) or "no bf16 units"
    load = f", load {info['loadavg_start']:.1f}" if info.get("loadavg_start") is not None else ""
    return f"{info['cpu']} ({units}), {info['cores_usable']} usable cores{load}"


def describe_precision(history: Any) -> str:
    """The precision a practica run trained in, from its ``History``: 'bf16' for a set precision, 'auto → bf16
    (41 ms/step vs fp32 63 ms/step on …)' for a measured one; the setting alone for a history without it."""
    choice = getattr(history, "precision", None)
    if choice is None:
        return "unrecorded"
    return choice.describe().removeprefix("precision ")
