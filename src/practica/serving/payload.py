"""From a request's body to a batch of model inputs, and from probabilities to the answer.

The hot path: orjson on the raw body, hand-written checks, numpy. Every problem is an
``ApiError`` that says what was wrong (naming the input) and what is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from practica.bundle.inputs import MAX_TEXT_CHARS, InputSpec, OpenedImage, open_image, open_item
from practica.errors import InputError
from practica.serving.errors import ApiError
from practica.serving.settings import ServeSettings

if TYPE_CHECKING:
    from practica.bundle.load import Bundle
    from practica.bundle.ood import OodScorer

# Larger requests are decoded in a worker thread: decoding a big image inline would stall
# every other request on the event loop; small ones are cheaper decoded in place.
INLINE_DECODE_BYTES = 64 * 1024
BODY_KEYS = frozenset(("inputs", "top_k"))
TEXT_BODY_KEYS = frozenset(("text", "top_k"))  # one text: {"text": "..."}, short for {"inputs": [{"text": "..."}]}


def describe_accepted(spec: InputSpec, settings: ServeSettings) -> str:
    if spec.kind == "text":
        return (f'JSON {{"text": "..."}}, or {{"inputs": [{{"text": "..."}}, ...], "top_k": k}} with 1 to '
                f'{settings.max_items} texts, each a non-empty string of at most '
                f"{MAX_TEXT_CHARS:,} characters; the model reads {spec.tokenizer or 'its tokens'}")
    if spec.kind == "image":
        h, w, c = spec.shape
        item = (f'{{"image": base64 PNG/JPEG}} or {{"pixels": {h}×{w}×{c} values 0–255}}; '
                f"or multipart/form-data with 1 to {settings.max_items} image files; images of at most "
                f"{settings.max_image_pixels:,} pixels each and {settings.max_request_pixels:,} in all")
    elif spec.table is not None:
        item = (f'{{"features": an object keyed by column name, {list(spec.feature_names)}: numbers, categories as '
                f'strings, null or left out for missing; or a list of the {spec.shape[0]} values in that order}}')
    else:
        names = f" or an object keyed by {list(spec.feature_names)}" if spec.feature_names else ""
        item = f'{{"features": a list of {spec.shape[0]} numbers{names}}}'
    return (f'JSON {{"inputs": [...], "top_k": k}} with 1 to {settings.max_items} inputs '
            f'({spec.describe()}), each {item}')


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def is_json(media: str) -> bool:
    return media in ("", "application/json") or media.endswith("+json")  # no content type: assume JSON


async def read_json(request: Request, accepted: str) -> Any:
    """The body parsed as JSON (the body-size limit is enforced by ``BodyLimit`` as it is read)."""
    media = media_type(request)
    if not is_json(media):
        raise ApiError(415, "unsupported_media_type", f"the content type '{media}' is not accepted", accepted)
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON ({err})", accepted) from None


def parse_top_k(value: Any, accepted: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(422, "invalid_top_k", f"'top_k' must be a whole number of at least 1, not {_short(value)}",
                       accepted)
    return value


def query_top_k(request: Request, accepted: str) -> int | None:
    """The URL's ``?top_k=``, read by hand (FastAPI's declared query parameters cost ~15 µs a request, a
    few % of a small model's prediction); a bad one is refused as the body's is."""
    if not request.scope.get("query_string"):
        return None
    value = request.query_params.get("top_k")
    if value is None:
        return None
    return parse_top_k(int(value) if value.strip().isdecimal() else value, accepted)


def parse_json_request(payload: Any, settings: ServeSettings, accepted: str) -> tuple[list, int | None]:
    """The body's inputs (still encoded) and its top_k."""
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_request", f"the body must be a JSON object, not {_json_type(payload)}", accepted)
    if "text" in payload and "inputs" not in payload:  # one text, the short form
        unknown = payload.keys() - TEXT_BODY_KEYS
        if unknown:
            raise ApiError(422, "invalid_request", f"unknown keys {sorted(unknown)} in the body", accepted)
        return [{"text": payload["text"]}], parse_top_k(payload.get("top_k"), accepted)
    unknown = payload.keys() - BODY_KEYS
    if unknown:
        raise ApiError(422, "invalid_request", f"unknown keys {sorted(unknown)} in the body", accepted)
    inputs = payload.get("inputs")
    if not isinstance(inputs, list):
        what = "missing" if inputs is None else f"a {_json_type(inputs)}"
        raise ApiError(422, "invalid_request", f"'inputs' must be a list of inputs; it is {what}", accepted)
    _check_count(len(inputs), settings, accepted)
    return inputs, parse_top_k(payload.get("top_k"), accepted)


async def decode_inputs(inputs: list, spec: InputSpec, settings: ServeSettings, accepted: str, size: int) -> np.ndarray:
    if size > INLINE_DECODE_BYTES:
        return await run_in_threadpool(_decode_all, inputs, spec, settings, accepted)
    return _decode_all(inputs, spec, settings, accepted)


def _decode_all(inputs: list, spec: InputSpec, settings: ServeSettings, accepted: str) -> np.ndarray:
    staged = []
    for i, item in enumerate(inputs):
        try:
            staged.append(open_item(item, spec, settings.max_image_pixels))
        except InputError as err:
            raise ApiError(422, "invalid_input", f"inputs[{i}]: {err}", accepted) from None
    return _decode_staged(staged, [f"inputs[{i}]" for i in range(len(staged))], settings, accepted)


async def read_image_files(request: Request, spec: InputSpec, settings: ServeSettings,
                           accepted: str) -> tuple[np.ndarray, int | None]:
    """A multipart/form-data upload: every file part is an image; an optional 'top_k' field."""
    try:
        async with request.form(max_files=settings.max_items, max_fields=16) as form:
            uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
            field = form.get("top_k")  # form fields are text
            top_k = parse_top_k(int(field) if isinstance(field, str) and field.strip().isdecimal() else field, accepted)
            _check_count(len(uploads), settings, accepted)
            files = [(upload.filename, await upload.read()) for upload in uploads]
    except HTTPException as err:  # the form parser's own complaints (no boundary, too many files, ...)
        raise ApiError(400, "invalid_multipart", f"the multipart body cannot be read: {err.detail}", accepted) from None
    if sum(len(content) for _, content in files) > INLINE_DECODE_BYTES:
        x = await run_in_threadpool(_decode_files, files, spec, settings, accepted)
    else:
        x = _decode_files(files, spec, settings, accepted)
    return x, top_k


def _decode_files(files: list[tuple[str | None, bytes]], spec: InputSpec, settings: ServeSettings,
                  accepted: str) -> np.ndarray:
    staged = []
    for i, (name, content) in enumerate(files):
        try:
            staged.append(open_image(content, spec, settings.max_image_pixels))
        except InputError as err:
            raise ApiError(422, "invalid_input", f"file[{i}] ({name or 'unnamed'}): {err}", accepted) from None
    return _decode_staged(staged, [f"file[{i}] ({name or 'unnamed'})" for i, (name, _) in enumerate(files)],
                          settings, accepted)


def _decode_staged(staged: Sequence[np.ndarray | OpenedImage | str], labels: list[str], settings: ServeSettings,
                   accepted: str) -> np.ndarray:
    """Every input's array, once the request's images (opened, their sizes known) are within the
    request's pixel budget: a request over it costs its headers' reading, not its decoding. A text
    model's inputs are its texts (a 1-D object array): each model tokenises them with its own tokenizer,
    a batch at a time, in its model thread (``scored_inference``)."""
    if staged and all(isinstance(s, str) for s in staged):
        texts = np.empty(len(staged), dtype=object)
        texts[:] = staged
        return texts
    sizes = [s.pixels for s in staged if isinstance(s, OpenedImage)]
    if sum(sizes) > settings.max_request_pixels:
        raise ApiError(413, "too_many_pixels",
                       f"the request's {len(sizes)} images have {sum(sizes):,} pixels in all, over the limit of "
                       f"{settings.max_request_pixels:,} per request; send fewer or smaller images per request",
                       accepted)
    arrays = []
    for i, s in enumerate(staged):
        assert not isinstance(s, str), "a text model's inputs are all texts"  # open_item: by the model's kind
        if isinstance(s, OpenedImage):
            try:
                s = s.decode()
            except InputError as err:
                raise ApiError(422, "invalid_input", f"{labels[i]}: {err}", accepted) from None
        arrays.append(s)
    return np.stack(arrays)


class Scored(NamedTuple):
    """A batch's answer, as the micro-batcher carries it (one row per input in each): the model's outputs and
    embedding (``Bundle.infer``), and each input's out-of-distribution score, flag and reason (an object array
    of str or None); the last three are None for a bundle without ``ood.json``."""

    outputs: np.ndarray
    embedding: np.ndarray | None
    ood_scores: np.ndarray | None
    ood_flags: np.ndarray | None
    ood_reasons: np.ndarray | None


def scored_inference(bundle: Bundle, scorer: OodScorer | None) -> Callable[[np.ndarray], Scored]:
    """The function the batcher runs in its model thread: a text model's tokenizer (the batch's texts at once),
    one ONNX call, then the OOD score (numpy), so the event loop does none of them."""
    def run(x: np.ndarray) -> Scored:
        x = bundle.encode(x)  # texts → ids or counts; other inputs as they are
        inference = bundle.infer(x)
        if scorer is None:
            return Scored(inference.outputs, inference.embedding, None, None, None)
        ood = scorer.score(x, inference.embedding)
        reasons = np.empty(len(x), dtype=object)
        reasons[:] = ood.reasons
        return Scored(inference.outputs, inference.embedding, ood.scores, ood.flags, reasons)

    return run


def ood_fields(answer: Scored) -> list[dict | None]:
    """Per input, its ``"ood"`` field: ``{"score", "flag", "reason"}``, or None when the bundle has no statistics."""
    if answer.ood_scores is None or answer.ood_flags is None or answer.ood_reasons is None:
        return [None] * len(answer.outputs)
    return [{"score": score, "flag": flag, "reason": reason} for score, flag, reason in
            zip(answer.ood_scores.tolist(), answer.ood_flags.tolist(), answer.ood_reasons.tolist(), strict=True)]


def predictions(probs: np.ndarray, classes: Sequence[str], k: int, labels: np.ndarray | None = None,
                ood: Sequence[dict | None] | None = None) -> list[dict]:
    """(N, classes) probabilities → per input, its predicted class (``labels``, class indices: the bundle's
    decision; default the most probable), the k most probable classes, most probable first, and its ``ood``
    field when given (``ood_fields``)."""
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(probs))  # plain indexing: half the time of take_along_axis on a request's few rows
    top_p = probs[rows[:, None], order].tolist()
    chosen = order[:, 0] if labels is None else np.asarray(labels)
    chosen_p = probs[rows, chosen].tolist()
    out = []
    for idx, ps, label, p_label in zip(order.tolist(), top_p, chosen.tolist(), chosen_p, strict=True):
        top = [{"label": classes[i], "probability": p} for i, p in zip(idx, ps, strict=True)]
        out.append({"label": classes[label], "probability": p_label, "top_k": top})
    return _with_ood(out, ood)


def values(outputs: np.ndarray, ood: Sequence[dict | None] | None = None) -> list[dict]:
    """A regressor's (N, 1) outputs → per input, ``{"value": v}`` (in the target's units), and its ``ood``."""
    return _with_ood([{"value": v} for v in np.asarray(outputs, dtype=np.float64).reshape(-1).tolist()], ood)


def _with_ood(rows: list[dict], ood: Sequence[dict | None] | None) -> list[dict]:
    if ood is not None:
        for row, field in zip(rows, ood, strict=True):
            row["ood"] = field
    return rows


def _check_count(n: int, settings: ServeSettings, accepted: str) -> None:
    if n == 0:
        raise ApiError(422, "no_inputs", "the request has no inputs", accepted)
    if n > settings.max_items:
        raise ApiError(422, "too_many_inputs",
                       f"the request has {n} inputs, over the limit of {settings.max_items}; "
                       "split it into several requests",
                       accepted)


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
