"""Helpers for the deployment tests: metrics read back, and a wait for a condition (the in-process client on a
Deployment's app is ``serving_support.serving``, which takes a bundle or a deployment)."""

from __future__ import annotations

import asyncio
import re


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the Prometheus text (0 when absent)."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + inner + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def eventually(check, timeout: float = 10.0) -> None:
    """Wait until ``check()`` (async) is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.02)
