"""The bundle's file names and format version (the layout is described in ``export.py``).

Kept apart from ``export.py`` so that loading a bundle never imports the exporters (torch).
"""

BUNDLE_SCHEMA_VERSION = 1
BUNDLE_FILE = "bundle.json"
ONNX_FILE = "model.onnx"
WEIGHTS_FILE = "weights.safetensors"
REFERENCE_FILE = "reference.json"
LINEAGE_FILE = "lineage.json"  # the same name as practica.data.splits.lineage.LINEAGE_FILE
OOD_FILE = "ood.json"  # out-of-distribution statistics (bundle/ood.py); absent in bundles exported before it
TOKENIZER_FILE = "tokenizer.json"  # a text model's fitted tokenizer (``TextTokenizer.to_dict()``)
