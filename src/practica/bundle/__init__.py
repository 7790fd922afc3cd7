"""The production artefact: a verified, self-contained model bundle (layout in ``export.py``).

Loading needs only ONNX Runtime; writing (``practica.bundle.export``) needs torch and the
exporters, so it is imported from its module, not from here.
"""

from practica.bundle.inputs import InputSpec
from practica.bundle.load import Bundle, Inference, load_bundle

__all__ = ["Bundle", "Inference", "InputSpec", "load_bundle"]
