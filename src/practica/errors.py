"""One error hierarchy: every message says what was wrong, what was given, and the fix.

The CLI turns any ``PracticaError`` into a one-paragraph message and exit code 2;
anything else is a bug and keeps its traceback.
"""


class PracticaError(Exception):
    """Root of every error practica raises on purpose."""


class ConfigError(PracticaError, ValueError):
    """A suite file (or a value in it) is invalid."""


class DataError(PracticaError, ValueError):
    """A data set cannot be found, read or used as declared."""


class ModelError(PracticaError, ValueError):
    """A model specification cannot be built (unknown layer, impossible shapes...)."""


class RunError(PracticaError):
    """A run directory is missing, incompatible or cannot be resumed."""


class BundleError(PracticaError):
    """A model bundle is missing, altered or cannot be exported or loaded."""


class InputError(PracticaError, ValueError):
    """An input given for prediction is not one the model accepts (wrong shape, not an image...)."""


class TrackingError(PracticaError):
    """Tracking (MLflow, TensorBoard) was asked for but cannot be used as declared (e.g. its package is missing)."""


class RegistryError(PracticaError):
    """A model registry is missing or damaged, or a version or alias asked of it does not exist."""


class ExecutionError(PracticaError, ValueError):
    """An executor cannot be set up as asked (unknown kind, a bad worker count, Ray missing or unreachable)."""


class MonitorError(PracticaError):
    """A prediction log or a monitored server cannot be read (missing, corrupt, not answering)."""
