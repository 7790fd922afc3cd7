"""A text suite run end to end (source: text; a tf-idf baseline, naive Bayes, a bag of embeddings and an LSTM),
then each experiment exported: the bundle, ``practica predict`` and the server agree with the run's own test
predictions (``predictions.npz``) to 1e-5, the tokenizer applied in front exactly as in training."""

from __future__ import annotations

import csv

import anyio
import httpx
import numpy as np
import pytest
from text_corpus import CLASSES, write_csv

from practica.bundle import load_bundle
from practica.config.load import suite_from_dict
from practica.pipeline.export import export_run
from practica.pipeline.rundir import RunDir
from practica.pipeline.suite import run_suite
from practica.prediction import Predictions
from practica.serving import ServeSettings, create_app

pytestmark = pytest.mark.slow

EXPERIMENTS = [
    {"name": "tfidf", "model": {"sklearn": "logistic_regression"}},
    {"name": "nb", "model": {"sklearn": "naive_bayes"}},
    {"name": "bag", "model": {"arch": "text_bag", "params": {"dim": 16}}},
    {"name": "lstm", "model": {"arch": "text_rnn", "params": {"cell": "lstm", "dim": 16, "hidden": 16}}},
]


@pytest.fixture(scope="module")
def text_suite_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-run")
    data = write_csv(root / "topics.csv", n=240)
    mp = pytest.MonkeyPatch()
    mp.setenv("PRACTICA_CACHE_DIR", str(root / "cache"))
    try:
        suite = suite_from_dict({
            "name": "topics", "dataset": {"source": "text", "path": str(data), "split": {"val": 0.2, "test": 0.2}},
            "defaults": {"train": {"epochs": 4, "batch_size": 32}}, "experiments": EXPERIMENTS,
            "evaluation": {"latency_samples": 10, "throughput_batch": 16}})
        run = run_suite(suite, runs_root=root / "runs")
        bundles = {e["name"]: export_run(run.run_dir, e["name"], root / f"bundle-{e['name']}") for e in EXPERIMENTS}
    finally:
        mp.undo()
    return run, bundles


@pytest.mark.parametrize("name", [e["name"] for e in EXPERIMENTS])
def test_bundle_predict_and_serve_agree_with_the_runs_test_predictions(text_suite_run, name, tmp_path):
    run, bundles = text_suite_run
    recorded = RunDir.finished(run.run_dir).experiment(name).read_predictions()
    assert recorded is not None
    texts = list(run.splits.test.x)
    bundle = load_bundle(bundles[name], threads=1)
    assert bundle.input.kind == "text" and bundle.card["model"]["kind"] == ("sklearn" if name in ("tfidf", "nb")
                                                                             else "network")
    np.testing.assert_allclose(bundle.predict_proba(texts), recorded.test, atol=1e-5)

    table = tmp_path / "test.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text"], *[[t] for t in texts]])
    rows = list(Predictions(bundle, [table], top_k=len(CLASSES)))
    predicted = np.array([[dict(r.top_k)[c] for c in bundle.classes] for r in rows])
    np.testing.assert_allclose(predicted, recorded.test, atol=1e-5)

    async def served():
        app = create_app(bundle, ServeSettings(max_items=len(texts)))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                r = await client.post("/v1/predict", json={"inputs": [{"text": t} for t in texts], "top_k": 3})
        return r.json()["predictions"]

    answers = anyio.run(served)
    got = np.array([[{t["label"]: t["probability"] for t in p["top_k"]}[c] for c in bundle.classes]
                    for p in answers])
    np.testing.assert_allclose(got, recorded.test, atol=1e-5)
    assert all(p["ood"] is not None for p in answers)


def test_the_run_writes_the_chosen_text_models_bundle(text_suite_run):
    run, _ = text_suite_run
    bundle = load_bundle(run.bundle)
    assert bundle.card["model"]["experiment"] == run.decision.chosen
    assert (run.bundle / "tokenizer.json").is_file() and bundle.card["onnx_parity"]["max_abs_diff"] <= 1e-5


def test_a_text_networks_bundle_rebuilds_it_in_pytorch(text_suite_run):
    import torch

    run, bundles = text_suite_run
    bundle = load_bundle(bundles["lstm"])
    ids = bundle.encode(list(run.splits.test.x))
    with torch.inference_mode():
        probs, embedding = bundle.torch_model(embedding=True)(torch.from_numpy(ids))
    inference = bundle.infer(ids)
    np.testing.assert_allclose(probs.numpy(), inference.outputs, atol=1e-5)
    np.testing.assert_allclose(embedding.numpy(), inference.embedding, atol=1e-4)
