"""The OpenAPI description of the service. Requests are parsed by hand on the hot path (orjson,
no per-request model validation); these schemas document what the handlers accept and return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from practica.bundle.inputs import MAX_TEXT_CHARS, InputSpec


class Prediction(BaseModel):
    label: str
    probability: float


class Ood(BaseModel):
    """How familiar an input is to the model, from statistics fitted on its training split (the card's ``ood``)."""

    score: float = Field(description="The input's distance from the training data (a Mahalanobis distance to "
                         "the nearest class, on the model's penultimate features, or on its inputs for a "
                         "scikit-learn model) over the bundle's threshold: above 1 is flagged; about 1% of the "
                         "validation inputs score above 1.")
    flag: bool = Field(description="True when the input does not look like the training data: its score is "
                       "above 1, or (tables) a value is outside the training range or a category is unseen.")
    reason: str | None = Field(description="Why it is flagged, in words, naming the column for a table's "
                               "checks; null when it is not flagged.")


_OOD = Field(None, description="The out-of-distribution judgement of this input; null for a bundle exported "
             "without out-of-distribution statistics.")


class InputPrediction(BaseModel):
    label: str = Field(description="The predicted class: the most probable one, or with a decision threshold "
                       "(``threshold``), the positive class whenever its probability reaches it.")
    probability: float = Field(description="The predicted class's probability.")
    top_k: list[Prediction] = Field(description="The k most probable classes, most probable first.")
    ood: Ood | None = _OOD


class ValuePrediction(BaseModel):
    value: float = Field(description="A regression model's predicted value, in the target's units.")
    ood: Ood | None = _OOD


class Threshold(BaseModel):
    positive: str = Field(description="The class predicted whenever its probability reaches ``value``.")
    value: float = Field(description="Chosen on the validation split for a declared target (the card's threshold).")


class PredictResponse(BaseModel):
    model_version: str
    request_id: str = Field(description="Also in the X-Request-ID header; the one the request sent, if any.")
    predictions: list[InputPrediction | ValuePrediction] = Field(
        description="One per input, in the order sent: the most probable classes for a classifier, the "
        "predicted value for a regression model (the bundle card's task)."
    )
    threshold: Threshold | None = Field(
        None, description="A classifier's decision rule: its decision threshold, or null when each label is the "
        "most probable class. Absent for a regression model."
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable, e.g. invalid_input, body_too_large, unauthorized.")
    message: str = Field(description="What was wrong; for an input, which one (inputs[i] or file[i]).")
    accepted: str | None = Field(None, description="What the service accepts instead.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    ready: bool = Field(description="The model is loaded and the batcher takes inputs.")
    model_version: str = Field(description="The primary model's version: what answers (but a canary's clients).")
    registry: dict[str, Any] | None = Field(None, description="Served from a registry: the alias and its version.")
    shadow: dict[str, Any] | None = Field(None, description="The shadow model (--shadow), sent a copy of every "
                                          "request's inputs after the response.")
    canary: dict[str, Any] | None = Field(None, description="The canary (--canary): its version, share of clients, "
                                          "whether it still takes traffic, and why it was rolled back.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorResponse} for s in statuses}


# An error response documented by reference, for routes whose own responses are not JSON.
ERROR_AS_JSON = {"description": "Error",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}


def _text_schema(spec: InputSpec) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS,
            "description": f"A text, not blank, of at most {MAX_TEXT_CHARS:,} characters; the model's tokenizer "
                           f"({spec.tokenizer or 'in the bundle'}) makes it tokens, as in training.",
            "example": "The team scored a late goal to win the match."}


def _item_schema(spec: InputSpec) -> dict:
    if spec.kind == "text":
        return {"type": "object", "required": ["text"], "additionalProperties": False,
                "properties": {"text": _text_schema(spec)}}
    if spec.kind == "image":
        h, w, c = spec.shape
        return {"oneOf": [
            {"type": "object", "required": ["image"], "additionalProperties": False, "properties": {
                "image": {"type": "string", "description": "A PNG or JPEG file as base64 (a data: URL too)."}}},
            {"type": "object", "required": ["pixels"], "additionalProperties": False, "properties": {
                "pixels": {"type": "array", "description": f"{h}×{w}×{c} nested lists of 0–255 values"
                           + (f" (or {h}×{w})" if c == 1 else "") + f", or a flat list of {h * w * c}."}}},
        ]}
    (n,) = spec.shape
    if spec.table is not None:  # a CSV table: named columns, categories as strings, null or left out: missing
        types: dict[str, dict[str, Any]] = {
            c.name: {"type": ["number", "null"]} if c.kind == "numeric" else
            {"type": ["string", "null"], "description": f"one of {', '.join(c.categories)}; another is unknown"}
            for c in spec.table.columns}
        for name in (*spec.table.ignored, spec.table.target):  # the columns the model was trained without
            types[name] = {"description": "not used by the model: accepted and ignored"}
        row = {"oneOf": [{"type": "array", "minItems": n, "maxItems": n},
                         {"type": "object", "additionalProperties": False, "properties": types}]}
        return {"type": "object", "required": ["features"], "additionalProperties": False,
                "properties": {"features": row}}
    as_list = {"type": "array", "items": {"type": "number"}, "minItems": n, "maxItems": n}
    features = as_list if not spec.feature_names else {"oneOf": [as_list, {
        "type": "object", "required": list(spec.feature_names), "additionalProperties": False,
        "properties": {name: {"type": "number"} for name in spec.feature_names}}]}
    return {"type": "object", "required": ["features"], "additionalProperties": False,
            "properties": {"features": features}}


def _example_item(spec: InputSpec) -> dict:
    if spec.kind == "text":
        return {"text": "The team scored a late goal to win the match."}
    if spec.kind == "image":
        h, w, c = spec.shape
        return {"pixels": [0] * (h * w * c)}
    if spec.table is not None:
        return {"features": {c.name: (c.categories[0] if c.categories else None) if c.kind == "categorical" else 0.0
                             for c in spec.table.columns}}
    return {"features": [0.0] * spec.shape[0]}


# POST /v1/predict's query parameter, documented here: the handler reads it by hand (``payload.query_top_k``)
TOP_K_QUERY = {"name": "top_k", "in": "query", "required": False,
               "description": "Predictions per input (the body's top_k wins).",
               "schema": {"type": "integer", "minimum": 1}}


def predict_request_body(spec: InputSpec, max_items: int) -> dict:
    """The requestBody of POST /v1/predict: JSON inputs, or (image models) a multipart upload of files."""
    top_k = {"type": "integer", "minimum": 1, "description": "Predictions per input (capped at the number of classes)."}
    batch = {
        "type": "object", "required": ["inputs"], "additionalProperties": False,
        "properties": {
            "inputs": {"type": "array", "minItems": 1, "maxItems": max_items, "items": _item_schema(spec)},
            "top_k": top_k,
        },
    }
    content: dict[str, Any] = {"application/json": {
        "schema": batch,
        "example": {"inputs": [_example_item(spec)], "top_k": 3},
    }}
    if spec.kind == "text":  # one text as {"text": ...}, or a batch as the other models take it
        one = {"type": "object", "required": ["text"], "additionalProperties": False,
               "properties": {"text": _text_schema(spec), "top_k": top_k}}
        content["application/json"] = {"schema": {"oneOf": [one, batch]},
                                       "example": {**_example_item(spec), "top_k": 3}}
    if spec.kind == "image":
        content["multipart/form-data"] = {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "array", "minItems": 1, "maxItems": max_items,
                         "items": {"type": "string", "format": "binary"}, "description": "PNG or JPEG files."},
                "top_k": top_k,
            },
        }}
    return {"required": True, "content": content}
