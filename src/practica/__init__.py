"""practica: from a data set to a model in production, with the evidence for every decision."""

__version__ = "0.1.0"
