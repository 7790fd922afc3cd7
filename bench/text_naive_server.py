"""The naive text endpoint: what a practitioner writes first around an exported text model.

A pydantic request model, default JSON responses, and per request: tokenise the one text with the
bundle's own tokenizer (``tokenizer.json``, the same ``TextTokenizer`` practica applies), run the
bundle's ONNX model (``model.onnx``, input ``ids`` or ``counts``) on that one text, return the top-5
labels. No micro-batching. Same routes as practica's server (``POST /v1/predict`` with
``{"text": "..."}`` or ``{"inputs": [{"text": "..."}]}``, ``GET /v1/health``) so one load generator
drives both.

    .venv/bin/python bench/text_naive_server.py --bundle runs/text/RUN_ID/bundle --port 8001 [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # a checkout without `pip install -e`
from practica.data.tokenizer import TextTokenizer


class Item(BaseModel):
    text: str


class PredictRequest(BaseModel):
    text: str | None = None
    inputs: list[Item] | None = None


def create_app(bundle_path: str, threads: int) -> FastAPI:
    root = Path(bundle_path)
    tokenizer = TextTokenizer.from_dict(json.loads((root / "tokenizer.json").read_text(encoding="utf-8")))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(root / "model.onnx"), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    classes = json.loads((root / "bundle.json").read_text(encoding="utf-8"))["output"]["classes"]
    app = FastAPI(title="naive ONNX text endpoint")

    @app.post("/v1/predict")
    async def predict(req: PredictRequest) -> dict:
        texts = [req.text] if req.text is not None else [item.text for item in req.inputs or []]
        x = tokenizer.counts(texts) if input_name == "counts" else tokenizer.encode(texts)
        probs = session.run(["probabilities"], {input_name: x})[0]
        top = np.argsort(-probs, axis=1)[:, :5]
        return {"predictions": [[{"label": classes[i], "probability": float(p[i])} for i in row]
                                for row, p in zip(top, probs, strict=True)]}

    @app.get("/v1/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


def app_from_env() -> FastAPI:
    """The factory each worker process calls (uvicorn starts workers from an import string)."""
    return create_app(os.environ["NAIVE_BUNDLE"], int(os.environ["NAIVE_THREADS"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="ONNX Runtime intra-op threads")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes, each with the model")
    args = ap.parse_args()
    import uvicorn

    os.environ.update(NAIVE_BUNDLE=args.bundle, NAIVE_THREADS=str(args.threads))
    app = app_from_env() if args.workers == 1 else "text_naive_server:app_from_env"
    uvicorn.run(app, factory=args.workers > 1, workers=args.workers, app_dir=str(Path(__file__).parent),
                host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
