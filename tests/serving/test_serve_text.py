"""A text model served: POST /v1/predict takes {"text": ...} (or a batch of them), tokenises with the bundle's own
tokenizer and answers as the run's predictor did; every wrong input is a 422 that says what is accepted."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from serving_support import b64, serving
from text_support import text_run

from practica.bundle.inputs import MAX_TEXT_CHARS
from practica.serving.deployment import check_compatible

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("which", ["text_net", "text_baseline"])
async def test_served_answers_agree_with_the_runs_predictor_on_the_test_texts(which, request):
    bundle = request.getfixturevalue(which)
    run = text_run()
    texts = list(run.splits.test.x)
    expected = (run.network if which == "text_net" else run.baseline).outputs(run.splits.test.x)
    async with serving(bundle, max_items=len(texts)) as client:
        batch = await client.post("/v1/predict", json={"inputs": [{"text": t} for t in texts], "top_k": 3})
        one = await client.post("/v1/predict", json={"text": texts[0]})
    assert batch.status_code == 200 and one.status_code == 200
    for p, row in zip(batch.json()["predictions"], expected, strict=True):
        got = {t["label"]: t["probability"] for t in p["top_k"]}
        np.testing.assert_allclose([got[c] for c in bundle.classes], row, atol=1e-5)
        assert p["ood"] is not None and p["ood"]["score"] >= 0
    first, alone = batch.json()["predictions"][0], one.json()["predictions"][0]
    assert alone["label"] == first["label"] and alone["probability"] == pytest.approx(first["probability"], abs=1e-6)


async def test_concurrent_texts_are_batched_and_each_gets_its_own_answer(text_net):
    texts = ["the goal of the match", "bake the bread in the oven", "the compiler found a bug", "a league season"]
    expected = text_net.predict_proba(texts).argmax(1)
    async with serving(text_net, max_wait_ms=50) as client:
        answers = await asyncio.gather(*(client.post("/v1/predict", json={"text": t}) for t in texts * 4))
    labels = [a.json()["predictions"][0]["label"] for a in answers]
    assert labels == [text_net.classes[i] for i in expected] * 4


def _error(r):
    assert r.status_code == 422, r.text
    return r.json()["error"]


@pytest.mark.parametrize(("body", "message"), [
    ({"text": ""}, "the text is empty"),
    ({"text": "   \n"}, "the text is empty"),
    ({"text": 42}, "'text' must be a string, not a number"),
    ({"text": ["a", "b"]}, "'text' must be a string, not a list"),
    ({"text": "x" * (MAX_TEXT_CHARS + 1)}, f"over the limit of {MAX_TEXT_CHARS:,}"),
    ({"inputs": [{"text": "fine"}, {"text": ""}]}, "inputs[1]: the text is empty"),
    ({"inputs": [{"pixels": [0] * 64}]}, "takes texts"),
    ({"inputs": [{"features": [1.0, 2.0]}]}, "not features; send {\"text\": \"...\"}"),
    ({"text": "fine", "extra": 1}, "unknown keys ['extra']"),
])
async def test_a_wrong_text_input_is_a_clear_422(text_net, body, message):
    async with serving(text_net) as client:
        error = _error(await client.post("/v1/predict", json=body))
    assert message in error["message"], error
    assert "'text'" in error["accepted"] or '"text"' in error["accepted"]


async def test_an_image_upload_to_a_text_model_is_refused(text_net, digit_images):
    from serving_support import encode

    async with serving(text_net) as client:
        r = await client.post("/v1/predict", files=[("file", ("d.png", encode(digit_images[0]), "image/png"))])
    assert "not images; send 'text' instead" in _error(r)["message"]


async def test_an_image_model_sent_text_is_refused(cnn, digit_images):
    async with serving(cnn) as client:
        one = _error(await client.post("/v1/predict", json={"text": "a goal"}))
        batch = _error(await client.post("/v1/predict", json={"inputs": [{"image": b64(digit_images[0])},
                                                                        {"text": "a goal"}]}))
    assert "not text; send 'image' or 'pixels' instead" in one["message"]
    assert batch["message"].startswith("inputs[1]: ")


async def test_the_schema_and_the_card_show_the_text_form(text_net):
    async with serving(text_net) as client:
        schema = (await client.get("/openapi.json")).json()
        card = (await client.get("/v1/model")).json()
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" not in body
    one, batch = body["application/json"]["schema"]["oneOf"]
    assert one["required"] == ["text"] and one["properties"]["text"]["maxLength"] == MAX_TEXT_CHARS
    assert batch["properties"]["inputs"]["items"]["required"] == ["text"]
    assert "text" in body["application/json"]["example"]
    assert card["input"]["kind"] == "text" and card["input"]["tokenizer"].startswith("word tokens")
    assert "texts (word tokens" in schema["info"]["description"]


async def test_the_page_has_a_text_box(text_net):
    async with serving(text_net) as client:
        page = (await client.get("/")).text
    assert 'id="text"' in page and 'id="text-go"' in page


def test_text_models_with_different_tokenizers_answer_the_same_requests(text_net, text_baseline, cnn):
    check_compatible(text_net, text_baseline)  # ids or counts, any vocabulary: texts in, each tokenises its own
    with pytest.raises(Exception, match="cannot answer the same requests"):
        check_compatible(text_net, cnn)


async def test_monitoring_a_text_model_records_text_lengths_and_measures_their_drift(text_net, tmp_path):
    texts = list(text_run().splits.test.x)
    long = [" ".join([t] * 20) for t in texts]  # far longer than anything in training
    async with serving(text_net, monitor_db=str(tmp_path / "log.db"), max_items=64,
                       monitor_window=len(texts)) as client:
        assert (await client.post("/v1/predict", json={"inputs": [{"text": t} for t in texts]})).status_code == 200
        usual = (await client.get("/v1/monitor")).json()
        assert (await client.post("/v1/predict", json={"inputs": [{"text": t} for t in long]})).status_code == 200
        drifted = (await client.get("/v1/monitor")).json()
    assert usual["report"]["rows"] == len(texts)
    assert not {"psi:text_length", "ks:text_length"} & set(usual["alerts"]), usual["alerts"]
    assert {"psi:text_length", "ks:text_length"} <= set(drifted["alerts"])
    sentence = next(c["sentence"] for c in drifted["report"]["checks"] if c["id"] == "ks:text_length")
    assert sentence.startswith("text length (characters)")
