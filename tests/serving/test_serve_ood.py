"""Every prediction says whether its input looks like the training data; the page shows it."""

from __future__ import annotations

import asyncio
import json
import shutil

import numpy as np
import pytest
from serving_support import b64, serving

from practica.bundle import Inference, load_bundle
from practica.bundle.manifest import write_manifest
from practica.serving.schemas import PredictResponse

pytestmark = pytest.mark.anyio


def pixels(images: np.ndarray) -> dict:
    return {"inputs": [{"pixels": im.tolist()} for im in images]}


@pytest.mark.parametrize("which", ["cnn", "baseline"])
async def test_every_prediction_carries_its_ood_judgement(which, cnn, baseline, digit_images):
    bundle = cnn if which == "cnn" else baseline
    shifted = np.concatenate([digit_images[:2], 255 - digit_images[:2], np.zeros_like(digit_images[:2])])
    async with serving(bundle) as client:
        r = await client.post("/v1/predict", json=pixels(shifted))
    assert r.status_code == 200
    PredictResponse.model_validate(r.json())  # as documented
    ood = [p["ood"] for p in r.json()["predictions"]]
    assert all(set(o) == {"score", "flag", "reason"} for o in ood)
    assert [o["flag"] for o in ood[2:]] == [True] * 4  # inverted, then all-zero digits
    assert all(o["score"] > 1 and "farther from every class" in o["reason"] for o in ood[2:])
    assert all((o["reason"] is None) == (not o["flag"]) for o in ood)


async def test_the_ood_answer_is_the_bundles_own_and_survives_batching(cnn, digit_images):
    from practica.bundle.ood import OodScorer

    images = np.concatenate([digit_images, 255 - digit_images])
    expected = OodScorer.from_bundle(cnn).score(images, cnn.infer(images).embedding)
    async with serving(cnn, max_batch_size=3, max_wait_ms=20) as client:  # requests split and joined across batches
        answers = await asyncio.gather(*[client.post("/v1/predict", json=pixels(images[i : i + 4]))
                                         for i in range(0, len(images), 4)])
    got = [p["ood"] for a in answers for p in a.json()["predictions"]]
    np.testing.assert_allclose([o["score"] for o in got], expected.scores, rtol=1e-5)
    assert [o["flag"] for o in got] == expected.flags.tolist()
    assert [o["reason"] is None for o in got] == [r is None for r in expected.reasons]


async def test_an_old_bundle_without_ood_statistics_serves_with_ood_null(cnn_bundle, tmp_path, digit_images):
    old = tmp_path / "old"
    shutil.copytree(cnn_bundle, old)
    (old / "ood.json").unlink()
    card = json.loads((old / "bundle.json").read_text())
    del card["ood"], card["output"]["embedding"]
    (old / "bundle.json").write_text(json.dumps(card))
    write_manifest(old)
    async with serving(load_bundle(old, threads=1)) as client:
        r = await client.post("/v1/predict", json=pixels(digit_images[:2]))
        page = await client.get("/")
    assert r.status_code == 200 and [p["ood"] for p in r.json()["predictions"]] == [None, None]
    PredictResponse.model_validate(r.json())
    assert page.status_code == 200


async def test_the_batcher_gives_each_request_its_rows_of_every_array():
    from practica.serving.batcher import MicroBatcher

    def infer(x):
        return Inference(x * 2, None if x[0, 0] < 0 else x + 0.5)

    batcher = MicroBatcher(infer, max_batch_size=4, max_wait_ms=20)
    await batcher.start()
    try:
        one, big = await asyncio.gather(batcher.predict(np.full((1, 2), 1.0)),
                                        batcher.predict(np.arange(18.0).reshape(9, 2)))
        plain = MicroBatcher(lambda x: (x, None, x[:, 0]), max_batch_size=2, max_wait_ms=5)
        await plain.start()
        as_tuple = await plain.predict(np.arange(6.0).reshape(3, 2))
        await plain.stop()
    finally:
        await batcher.stop()
    assert isinstance(one, Inference) and one.outputs.tolist() == [[2.0, 2.0]]
    assert one.embedding.tolist() == [[1.5, 1.5]]
    np.testing.assert_array_equal(big.outputs, np.arange(18.0).reshape(9, 2) * 2)  # split over 3 batches, joined
    np.testing.assert_array_equal(big.embedding, np.arange(18.0).reshape(9, 2) + 0.5)
    assert type(as_tuple) is tuple and as_tuple[1] is None and as_tuple[2].tolist() == [0.0, 2.0, 4.0]


def test_the_page_warns_when_an_input_does_not_look_like_the_training_data(cnn, digit_images, tmp_path):
    import os

    from test_serve_live import CHROMIUM

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}; install it with: apt-get install -y chromium")
    from net_support import live_server
    from playwright.sync_api import sync_playwright
    from serving_support import encode

    from practica.bundle.ood import OodScorer
    from practica.serving import ServeSettings, create_app

    scorer = OodScorer.from_bundle(cnn)
    familiar = next(im for im in digit_images
                    if not scorer.score(im[None], cnn.infer(im[None]).embedding).flags[0])
    files = {"familiar": familiar, "inverted": 255 - familiar}
    for name, image in files.items():
        (tmp_path / f"{name}.png").write_bytes(encode(image))
    seen = {}
    with sync_playwright() as p, live_server(create_app(cnn, ServeSettings())) as (_, url):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(url)
        page.wait_for_selector("#card dl")
        for name in ("inverted", "familiar"):
            with page.expect_response("**/v1/predict"):
                page.set_input_files("#file", str(tmp_path / f"{name}.png"))
            page.wait_for_selector("#bars .bar")
            page.wait_for_timeout(100)
            seen[name] = (page.is_visible("#ood"), page.inner_text("#ood") if page.is_visible("#ood") else "")
            if name == "inverted":
                page.screenshot(path="/tmp/serve_page_ood.png", full_page=True)
        card_text = page.inner_text("#card")
        browser.close()
    visible, text = seen["inverted"]
    assert visible and "This does not look like the training data" in text and "farther from every class" in text
    assert seen["familiar"] == (False, "")
    assert "Unfamiliar inputs" in card_text and "Mahalanobis" in card_text


async def test_an_image_upload_gets_its_ood_too(cnn, digit_images):
    async with serving(cnn) as client:
        r = await client.post("/v1/predict", json={"inputs": [{"image": b64(np.zeros((8, 8, 1), np.uint8))}]})
    assert r.json()["predictions"][0]["ood"]["flag"] is True
