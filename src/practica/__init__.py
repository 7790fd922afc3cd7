"""practica: from a data set to a model in production, with the evidence for every decision."""

__version__ = "0.1.0"

# The model stage registers its checks of architecture and estimator names with config, which cannot
# import it; importing it here makes every ModelSpec checked, whichever part of practica is imported.
from practica import models  # noqa: E402, F401
