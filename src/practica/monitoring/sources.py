"""Where ``practica monitor`` reads a prediction log from: the SQLite file, or a running server's API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from practica.errors import MonitorError
from practica.monitoring.log import log_stats, read_models, read_rows
from practica.monitoring.records import PredictionRow

DEFAULT_LIMIT = 200_000  # the newest rows the report reads; enough for days of moderate traffic
URL_TIMEOUT_S = 10.0
PAGE_ROWS = 100_000  # the server's largest page of /v1/monitor/rows


@dataclass(frozen=True)
class MonitorData:
    """What the monitor page is drawn from."""

    source: str  # the file or URL, as given
    rows: list[PredictionRow]  # oldest first
    total_rows: int  # rows in the log (the page may read only the newest)
    model_version: str | None
    reference: dict[str, Any]
    feature_names: tuple[str, ...]


def is_url(source: str) -> bool:
    return urlparse(source).scheme in ("http", "https")


def load_source(source: str, *, limit: int = DEFAULT_LIMIT, api_key: str | None = None) -> MonitorData:
    return load_url(source, limit=limit, api_key=api_key) if is_url(source) else load_db(Path(source), limit=limit)


def load_db(path: Path, *, limit: int = DEFAULT_LIMIT) -> MonitorData:
    """The newest ``limit`` rows of a log file and the reference of its most recent model."""
    models = read_models(path)
    rows = read_rows(path, limit=limit)
    latest = models[-1] if models else None
    return MonitorData(source=str(path), rows=rows, total_rows=log_stats(path).rows,
                       model_version=latest.model_version if latest else None,
                       reference=latest.reference if latest else {},
                       feature_names=latest.feature_names if latest else ())


def load_url(url: str, *, limit: int = DEFAULT_LIMIT, api_key: str | None = None) -> MonitorData:
    """The same from a running ``practica serve --monitor-db``: GET /v1/monitor, then /v1/monitor/rows."""
    base = url.rstrip("/")
    for suffix in ("/v1/monitor", "/v1"):  # accept the server's root, /v1 or the monitor route itself
        base = base.removesuffix(suffix)
    snapshot = _get_json(f"{base}/v1/monitor", api_key)
    rows_doc = _get_json(f"{base}/v1/monitor/rows?{urlencode({'limit': min(limit, PAGE_ROWS)})}", api_key)
    try:
        rows = [PredictionRow.model_validate(r) for r in rows_doc["rows"]]
        return MonitorData(source=url, rows=rows, total_rows=int(snapshot["log"]["rows"]),
                           model_version=snapshot.get("model_version"), reference=snapshot.get("reference") or {},
                           feature_names=tuple(snapshot.get("feature_names") or ()))
    except (KeyError, TypeError, ValueError) as err:
        raise MonitorError(f"{base}/v1/monitor did not answer as a practica server does ({type(err).__name__}: "
                           f"{err}); is {url} a practica server started with --monitor-db?") from None


def _get_json(url: str, api_key: str | None) -> Any:
    headers = {"accept": "application/json", "user-agent": "practica monitor"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:  # noqa: S310 (http(s) checked)
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = _error_message(err)
        fix = {401: "give the server's key with --api-key (or PRACTICA_API_KEY)",
               404: "start the server with --monitor-db PATH so that it records predictions"}.get(err.code, "")
        raise MonitorError(f"{url} answered {err.code}{': ' + detail if detail else ''}"
                           + (f"; {fix}" if fix else "")) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise MonitorError(f"no answer from {url} ({reason}); is the server running (practica serve BUNDLE "
                           "--monitor-db PATH), and is the address right?") from None
    except ValueError:
        raise MonitorError(f"{url} did not answer with JSON; is it a practica server?") from None


def _error_message(err: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(err.read())
        problem = body["error"]
        return f"{problem['message']} ({problem.get('accepted', '')})".replace(" ()", "")
    except (ValueError, KeyError, TypeError, OSError):
        return ""
