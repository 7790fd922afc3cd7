"""Helpers for the deployment tests: an in-process client on a Deployment's app, and metrics read back."""

from __future__ import annotations

import asyncio
import re
from contextlib import asynccontextmanager

import httpx

from practica.serving import ServeSettings, create_app


@asynccontextmanager
async def deployed(deployment, **settings):
    """An httpx client on the app of ``deployment``, in process, with its lifespan (warm-up, watcher) running."""
    app = create_app(deployment, ServeSettings(**settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


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
