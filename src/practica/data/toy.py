"""scikit-learn's bundled tables as ``Dataset``s: iris, wine and breast_cancer (no network).

Each is a float32 N×F feature table, its classes scikit-learn's ``target_names``, each sample
named ``iris[17]`` after its row.
"""

from __future__ import annotations

from sklearn import datasets

from practica.config.schema import SourceSpec
from practica.data.records import Dataset

_LOADERS = {
    "iris": datasets.load_iris,  # 150 × 4, 3 classes
    "wine": datasets.load_wine,  # 178 × 13, 3 classes
    "breast_cancer": datasets.load_breast_cancer,  # 569 × 30, 2 classes
}


def load_toy(spec: SourceSpec) -> Dataset:
    bunch = _LOADERS[spec.source]()
    n = len(bunch.target)
    return Dataset(
        name=spec.source,
        x=bunch.data.astype("float32"),
        y=bunch.target.astype("int64"),
        classes=tuple(str(name) for name in bunch.target_names),
        sources=tuple(f"{spec.source}[{i}]" for i in range(n)),
    )

