"""The production artefact: a verified, self-contained model bundle (see ``export.py`` for its layout)."""

from practica.bundle.export import BundleSource, write_bundle
from practica.bundle.inputs import InputSpec
from practica.bundle.load import Bundle, load_bundle

__all__ = ["Bundle", "BundleSource", "InputSpec", "load_bundle", "write_bundle"]
