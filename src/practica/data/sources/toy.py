"""scikit-learn's bundled tables as ``Dataset``s: iris, wine, breast_cancer and diabetes (no network).

Each is a float32 N×F feature table, each sample named ``iris[17]`` after its row. The classification
sets' classes are scikit-learn's ``target_names``; diabetes is a regression set (``task`` "regression"):
its target, a measure of disease progression one year after baseline, is a float32 number per sample.
"""

from __future__ import annotations

from sklearn import datasets

from practica.config.schema import SourceSpec
from practica.data.records import Dataset

_LOADERS = {
    "iris": datasets.load_iris,  # 150 × 4, 3 classes
    "wine": datasets.load_wine,  # 178 × 13, 3 classes
    "breast_cancer": datasets.load_breast_cancer,  # 569 × 30, 2 classes
    "diabetes": datasets.load_diabetes,  # 442 × 10, target 25–346 (regression)
}
_REGRESSION = ("diabetes",)


def load_toy(spec: SourceSpec) -> Dataset:
    bunch = _LOADERS[spec.source]()
    n = len(bunch.target)
    if spec.source in _REGRESSION:
        return Dataset(
            name=spec.source,
            x=bunch.data.astype("float32"),
            y=bunch.target.astype("float32"),
            classes=(),
            sources=tuple(f"{spec.source}[{i}]" for i in range(n)),
            task="regression",
            feature_names=tuple(bunch.feature_names),
        )
    return Dataset(
        name=spec.source,
        x=bunch.data.astype("float32"),
        y=bunch.target.astype("int64"),
        classes=tuple(str(name) for name in bunch.target_names),
        sources=tuple(f"{spec.source}[{i}]" for i in range(n)),
    )

