"""The HTTP service of one bundle: ``create_app(bundle, settings)`` → a FastAPI app.

    GET  /               a page to try the model (drop an image, see the predictions and the model card)
    HEAD / and /v1/health    the status and headers of GET, no body (for load balancers and uptime checks)
    POST /v1/predict     predictions for one or many inputs (JSON or multipart image upload)
    GET  /v1/model       the bundle card: what the model is, its metrics, lineage, why it was chosen
    GET  /v1/health      200 when the model is loaded and taking inputs, 503 otherwise
    GET  /metrics        Prometheus metrics
    GET  /v1/monitor     (with a prediction log) drift of the newest inputs against the bundle's reference
    GET  /v1/monitor/rows    (with a prediction log) the logged rows, for ``practica monitor URL``
    POST /v1/noop        (bench_routes only) reads the body as /v1/predict does, predicts nothing

Which model answers (the primary, hot-swapped from a registry; a canary; a shadow) is the ``Deployment``'s
to say (``deployment.py``); every answer names its model_version and, in X-Model-Role, its role.
"""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from practica.bundle.load import Bundle
from practica.monitoring.service import Monitor
from practica.serving.auth import api_key_dependencies
from practica.serving.batcher import BatcherClosed
from practica.serving.deployment import Deployment
from practica.serving.errors import ApiError, install_error_handlers
from practica.serving.metrics import ServiceMetrics
from practica.serving.middleware import REQUEST_ID, BodyLimit, RequestObserver
from practica.serving.payload import (
    decode_inputs,
    describe_accepted,
    media_type,
    ood_fields,
    parse_json_request,
    predictions,
    query_top_k,
    read_image_files,
    read_json,
    values,
)
from practica.serving.schemas import (
    ERROR_AS_JSON,
    TOP_K_QUERY,
    HealthResponse,
    PredictResponse,
    error_responses,
    predict_request_body,
)
from practica.serving.settings import ServeSettings
from practica.tasks import get_task

JSON = "application/json"
# The page is one self-contained file: it may talk to this server and nothing else.
PAGE_CSP = ("default-src 'none'; connect-src 'self'; img-src data: blob:; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")


def create_app(served: Bundle | Deployment, settings: ServeSettings | None = None) -> FastAPI:
    """The app of one bundle, or of a deployment (a registry alias, a shadow, a canary)."""
    settings = settings or ServeSettings()
    deployment = served if isinstance(served, Deployment) else Deployment(served)
    bundle = deployment.primary.bundle
    spec, classes, version = deployment.input, bundle.classes, bundle.version
    metrics = ServiceMetrics(version)
    deployment.attach(settings, metrics)
    accepted = describe_accepted(spec, settings)
    page = (resources.files("practica.serving") / "page" / "index.html").read_bytes()
    monitor = None if settings.monitor_db is None else Monitor(
        settings.monitor_db, model_version=version, reference=bundle.reference(), registry=metrics.registry,
        window=settings.monitor_window, max_rows=settings.monitor_max_rows, feature_names=spec.feature_names,
        webhook=settings.alert_webhook)
    if monitor is not None:
        deployment.on_swap = lambda new: monitor.follow(new.version, new.reference())
        if deployment.shadow is not None:  # the primary's and canary's answers are recorded by the route itself
            deployment.on_prediction = lambda rows: monitor.record_rows([r for r in rows if r.role == "shadow"])

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await deployment.start()  # warms every model up (ONNX session and one batch) before the first request
        # The model, the app and the imports are long-lived: keep them out of every garbage
        # collection from now on, so collections scan only what requests allocate.
        gc.freeze()
        try:
            yield
        finally:  # uvicorn has finished the in-flight requests by now; anything still queued is predicted
            await deployment.stop()
            if monitor is not None:
                monitor.close()  # writes the rows still queued

    app = FastAPI(
        title=f"practica · {bundle.card.get('name', version)}",
        version=version,
        description=f"Predictions of {version}: {spec.describe()} in, "
                    + (f"{len(classes)} classes out. " if get_task(bundle.task).has_classes
                       else "a predicted value out (top_k does not apply). ")
                    +
                    "Every response carries an X-Request-ID header (the request's own, if it sent one)."
                    + (" Every route but /v1/health and the page needs an API key." if settings.api_key else ""),
        lifespan=lifespan,
    )
    app.state.deployment = deployment  # where a prediction log is attached (deployment.on_prediction)
    install_error_handlers(app)
    protected = api_key_dependencies(settings.api_key)
    auth = (401,) if settings.api_key else ()

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return HTMLResponse(page, headers={"content-security-policy": PAGE_CSP})

    @app.head("/", include_in_schema=False)
    async def index_head() -> Response:
        return _headers_only(await index())

    @app.post(
        "/v1/predict", dependencies=protected, summary="Predict the classes of one or many inputs",
        openapi_extra={"requestBody": predict_request_body(spec, settings.max_items), "parameters": [TOP_K_QUERY]},
        responses={200: {"model": PredictResponse}, **error_responses(400, *auth, 413, 415, 422, 503)},
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        top_k = query_top_k(request, accepted)  # by hand, as the body: FastAPI's parameter parsing costs more
        if media_type(request) == "multipart/form-data":
            x, body_top_k = await read_image_files(request, spec, settings, accepted)
        else:
            payload = await read_json(request, accepted)
            inputs, body_top_k = parse_json_request(payload, settings, accepted)
            x = await decode_inputs(inputs, spec, settings, accepted, size=len(await request.body()))
        client = _client(request)
        with deployment.answering(client) as model:  # held until answered: a hot swap waits for it
            model_started = time.perf_counter()
            try:
                answer = await model.predict(x)  # outputs, embedding, OOD scores
            except BatcherClosed as err:
                raise ApiError(503, "unavailable", str(err), "requests once /v1/health says ready",
                               {"Retry-After": "1"}) from None
            probs, ood = answer.outputs, ood_fields(answer)
            k = body_top_k or top_k or settings.top_k
            body = {
                "model_version": model.version,
                "request_id": request.scope[REQUEST_ID],
                "predictions": predictions(probs, model.bundle.classes, k, model.bundle.decide(probs), ood)
                if model.has_classes else values(probs, ood),
                # every classifier's response states its decision rule: null is the most probable class
                **({"threshold": model.threshold} if model.has_classes else {}),
            }
        after = deployment.after_response(model, x, answer, request_id=request.scope[REQUEST_ID], client=client,
                                          seconds=time.perf_counter() - model_started)
        if monitor is not None:
            monitor.record_answers(x, body["predictions"], request_id=body["request_id"], started=started,
                                   client=request.headers.get("x-client-id"), role=model.role,
                                   model_version=model.version)
        return Response(orjson.dumps(body), media_type=JSON, headers={"X-Model-Role": model.role}, background=after)

    @app.get("/v1/model", dependencies=protected, summary="The model card: metadata, metrics, lineage, selection",
             responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **error_responses(*auth)})
    async def model_card(request: Request) -> Response:
        model = deployment.model_for(_client(request))  # a canary's client is shown the canary's card
        return Response(model.card_json, media_type=JSON, headers={"X-Model-Role": model.role})

    @app.get("/v1/health", summary="Liveness and readiness", responses={200: {"model": HealthResponse},
                                                                        503: {"model": HealthResponse}})
    async def health() -> Response:
        ready = deployment.ready
        body = {"status": "ok" if ready else "unavailable", "ready": ready,
                "model_version": deployment.primary.version, **deployment.describe()}
        return Response(orjson.dumps(body), 200 if ready else 503, media_type=JSON)

    @app.head("/v1/health", include_in_schema=False)
    async def health_head() -> Response:
        return _headers_only(await health())

    @app.get("/metrics", dependencies=protected, response_class=PlainTextResponse, summary="Prometheus metrics",
             responses={s: ERROR_AS_JSON for s in auth})  # with a model, FastAPI would document it as text/plain
    async def prometheus_metrics() -> Response:
        if monitor is not None:  # the drift gauges are brought up to date when read, never per request
            await run_in_threadpool(monitor.report)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    monitor_off = ApiError(404, "monitoring_off", "this server keeps no prediction log",
                           "start it with practica serve BUNDLE --monitor-db PATH to record predictions and "
                           "measure drift")

    # documented only when the server keeps a log; without one they answer 404 and say how to start one
    @app.get("/v1/monitor", dependencies=protected, summary="Drift of the newest inputs against the training data",
             include_in_schema=monitor is not None,
             responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **error_responses(*auth, 404)})
    async def monitor_report() -> Response:
        if monitor is None:
            raise monitor_off
        return Response(orjson.dumps(await run_in_threadpool(monitor.snapshot)), media_type=JSON)

    @app.get("/v1/monitor/rows", dependencies=protected, summary="The prediction log's rows, oldest first",
             include_in_schema=monitor is not None,
             responses={200: {"content": {JSON: {"schema": {"type": "object"}}}}, **error_responses(*auth, 404, 422)})
    async def monitor_rows(
        since: Annotated[float | None, Query(description="Rows at or after this time (epoch seconds).")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000, description="The newest rows, at most this many.")] = 10_000,
    ) -> Response:
        if monitor is None:
            raise monitor_off
        rows = await run_in_threadpool(monitor.rows, since=since, limit=limit)
        return Response(orjson.dumps({"rows": rows}), media_type=JSON)

    if settings.bench_routes:
        @app.post("/v1/noop", dependencies=protected, include_in_schema=False)
        async def noop(request: Request) -> Response:
            await read_json(request, accepted)  # the same reading and parsing as /v1/predict, then nothing
            return Response(b'{"ok":true}', media_type=JSON)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    # every route is a Route: the API's (APIRoute) and FastAPI's own (/openapi.json, /docs, /redoc)
    paths = [r.path for r in app.routes if isinstance(r, Route)]
    app.add_middleware(RequestObserver, metrics=metrics, routes=paths)  # outermost
    return app


def _client(request: Request) -> str:
    """Who is asking, for a sticky canary: the X-Client-ID header, else the client's address."""
    return request.headers.get("x-client-id") or (request.client.host if request.client else "")


def _headers_only(response: Response) -> Response:
    """The answer to HEAD: GET's status and headers (its Content-Length too), and no body."""
    return Response(status_code=response.status_code, headers=dict(response.headers))
