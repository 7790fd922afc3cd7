"""Contract tests over every layer and architecture, and the shape errors a user can make."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from practica.config.layers import LAYERS
from practica.config.schema import ModelSpec
from practica.errors import ModelError
from practica.evaluation.predictors import SklearnPredictor
from practica.models import baselines
from practica.models.classifier import count_parameters
from practica.models.registry import build_network, is_text_arch
from practica.models.zoo import ARCHITECTURES

# For each registered layer: a list that uses it on a 3×16×16 image.
LAYER_CASES = {
    "dense": ["flatten", {"dense": 16}],
    "conv": [{"conv": {"filters": 4, "kernel": 5, "stride": 2}}],
    "maxpool": [{"maxpool": 2}],
    "avgpool": [{"avgpool": 4}],
    "global_avgpool": [{"conv": 4}, "global_avgpool"],
    "flatten": ["flatten"],
    "batchnorm": [{"conv": 4}, "batchnorm", "flatten", {"dense": 8}, "batchnorm"],
    "dropout": [{"dropout": 0.3}],
    "residual": [{"residual": {"filters": 8, "stride": 2}}, {"residual": 8}],
    "relu": ["relu"], "gelu": ["gelu"], "tanh": ["tanh"], "sigmoid": ["sigmoid"],
    "softmax": ["flatten", {"dense": 10}, "softmax"],
}


def test_every_layer_has_a_case():
    assert set(LAYER_CASES) == set(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_layer_builds_and_runs(name):
    net = build_network(ModelSpec(layers=LAYER_CASES[name]), (3, 16, 16), 10)
    out = net(torch.rand(4, 3, 16, 16))
    assert out.shape == (4, 10)
    out.sum().backward()  # every layer is differentiable end to end


@pytest.mark.parametrize("arch", sorted(a for a in ARCHITECTURES if not is_text_arch(a)))
def test_every_image_architecture_builds_on_images(arch):
    net = build_network(ModelSpec(arch=arch), (3, 32, 32), 10)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_named_architectures_have_their_published_size():
    assert 0.26e6 < count_parameters(build_network(ModelSpec(arch="resnet20"), (3, 32, 32), 10)) < 0.28e6
    assert count_parameters(build_network(ModelSpec(arch="keras_cnn"), (3, 32, 32), 10)) == 1_250_858
    resnet56 = build_network(ModelSpec(arch="resnet", params={"depth": 56}), (3, 32, 32), 10)
    assert 0.85e6 < count_parameters(resnet56) < 0.87e6


def test_mlp_runs_on_feature_vectors():
    net = build_network(ModelSpec(arch="mlp", params={"hidden": [8], "batchnorm": True, "dropout": 0.1}), (5,), 3)
    assert net(torch.rand(4, 5)).shape == (4, 3)


def test_head_is_appended_unless_present():
    with_head = build_network(ModelSpec(layers=["flatten", {"dense": 10}]), (1, 8, 8), 10)
    without = build_network(ModelSpec(layers=["flatten", {"dense": 32}]), (1, 8, 8), 10)
    assert len(with_head) == 2 and len(without) == 3
    assert isinstance(without[-1], torch.nn.Linear) and without[-1].out_features == 10


@pytest.mark.parametrize(
    "layers, shape, message",
    [
        (["flatten", {"conv": 8}], (3, 8, 8), "layer 1 (conv) needs an image input"),
        ([{"dense": 8}], (3, 8, 8), "add 'flatten' or 'global_avgpool'"),
        ([{"maxpool": 4}, {"maxpool": 4}], (1, 8, 8), "shrinks the image to nothing"),
        (["softmax", "flatten"], (1, 8, 8), "softmax) is only allowed as the last layer"),
        ([{"conv": {"filters": 4, "kernel": 4}}], (1, 8, 8), "needs an odd kernel"),
        ([{"conv": 4}], (12,), "needs an image input"),
    ],
)
def test_impossible_layer_lists_name_the_layer(layers, shape, message):
    with pytest.raises(ModelError) as info:
        build_network(ModelSpec(layers=layers), shape, 10)
    assert message in str(info.value)


def test_bad_architecture_params_are_model_errors():
    with pytest.raises(ModelError, match="6n \\+ 2"):
        build_network(ModelSpec(arch="resnet", params={"depth": 21}), (3, 32, 32), 10)
    with pytest.raises(ModelError, match="needs image input"):
        build_network(ModelSpec(arch="resnet20"), (12,), 10)


@pytest.mark.parametrize("name", ["logistic_regression", "knn", "naive_bayes", "decision_tree", "random_forest"])
def test_every_baseline_fits_and_predicts(name, digits):
    small = digits.subset(np.arange(300))
    est = baselines.make_baseline(name, {"n_estimators": 10} if name == "random_forest" else {}, seed=0)
    est.fit(baselines.as_features(small.x), small.y)
    pred = SklearnPredictor(est, 10)
    proba = pred.predict_proba(digits.x[300:400])
    assert proba.shape == (100, 10) and np.allclose(proba.sum(1), 1)
    assert (proba.argmax(1) == digits.y[300:400]).mean() > 0.6
    assert pred.params > 0 and pred.size_bytes > 0


def test_baseline_missing_a_class_still_gives_every_column(digits):
    keep = digits.y != 9
    est = baselines.make_baseline("naive_bayes", {}, seed=0)
    est.fit(baselines.as_features(digits.x[keep]), digits.y[keep])
    proba = SklearnPredictor(est, 10).predict_proba(digits.x[:5])
    assert proba.shape == (5, 10) and np.all(proba[:, 9] == 0)
