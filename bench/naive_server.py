"""The naive baseline: the FastAPI endpoint a practitioner writes first.

A pydantic request model, default JSON responses, and per request: decode the base64 PNG with
PIL, run the bundle's PyTorch module on that one image under ``torch.inference_mode``, return
the top-5 labels. No batching, no ONNX. Same routes as practica's server (``POST /v1/predict``
with ``{"inputs": [{"image": "<base64>"}]}``, ``GET /v1/health``) so one load generator drives
both.

    .venv/bin/python bench/naive_server.py --bundle /tmp/bundles/small-cnn --port 8001 [--threads 2]

``--threads`` sets torch's intra-op threads; give it what ONNX Runtime gets in practica's server
(bundle default: min(4, CPU count)). ``--handler sync`` (default) declares the endpoint with
``def``, which FastAPI runs in its thread pool, as its docs advise for blocking work;
``--handler async`` declares it ``async def`` (inference blocks the event loop).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, HTTPException
from PIL import Image
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a checkout without `pip install -e`
from practica.bundle.load import load_bundle


class Item(BaseModel):
    image: str


class PredictRequest(BaseModel):
    inputs: list[Item]


def create_app(bundle_path: str, handler: str = "sync") -> FastAPI:
    bundle = load_bundle(bundle_path)
    model = bundle.torch_model()
    classes = list(bundle.classes)
    h, w, c = bundle.input.shape
    mode = "L" if c == 1 else "RGB"
    app = FastAPI(title="naive PyTorch endpoint")

    def run(req: PredictRequest) -> dict:
        arrays = []
        for item in req.inputs:
            try:
                img = Image.open(io.BytesIO(base64.b64decode(item.image))).convert(mode)
            except (ValueError, OSError) as err:  # bad base64 (binascii.Error), not an image
                raise HTTPException(status_code=422, detail=f"not an image: {err}") from None
            if img.size != (w, h):
                img = img.resize((w, h), Image.Resampling.BILINEAR)
            arrays.append(np.asarray(img, dtype=np.uint8).reshape(h, w, c))
        x = torch.from_numpy(np.stack(arrays))
        with torch.inference_mode():
            probs = model(x)
        top = torch.topk(probs, k=min(5, len(classes)), dim=1)
        return {
            "model_version": bundle.version,
            "predictions": [
                [{"label": classes[i], "probability": p} for i, p in zip(idx, val, strict=True)]
                for idx, val in zip(top.indices.tolist(), top.values.tolist(), strict=True)
            ],
        }

    if handler == "async":
        @app.post("/v1/predict")
        async def predict_async(req: PredictRequest) -> dict:
            return run(req)
    else:
        @app.post("/v1/predict")
        def predict(req: PredictRequest) -> dict:
            return run(req)

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok", "model_version": bundle.version}

    return app


def app_from_env():
    """The factory each worker process calls (uvicorn starts workers from an import string)."""
    torch.set_num_threads(int(os.environ["NAIVE_THREADS"]))
    torch.set_num_interop_threads(1)
    return create_app(os.environ["NAIVE_BUNDLE"], os.environ["NAIVE_HANDLER"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1),
                    help="torch intra-op threads (default: min(4, CPU count), as ONNX Runtime in a bundle)")
    ap.add_argument("--handler", choices=("sync", "async"), default="async",
                    help="async (default) runs the model on the event loop, one request at a time; sync runs it in "
                         "FastAPI's thread pool, where concurrent requests fight over the cores (slower here)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes, each with the model")
    ap.add_argument("--access-log", action="store_true", help="uvicorn's access log (off: it would cost CPU "
                    "that practica's server does not spend)")
    args = ap.parse_args()
    import uvicorn

    os.environ.update(NAIVE_BUNDLE=args.bundle, NAIVE_HANDLER=args.handler, NAIVE_THREADS=str(args.threads))
    app = app_from_env() if args.workers == 1 else "naive_server:app_from_env"
    uvicorn.run(app, factory=args.workers > 1, workers=args.workers, app_dir=str(Path(__file__).parent),
                host=args.host, port=args.port, log_level="warning", access_log=args.access_log)


if __name__ == "__main__":
    main()
