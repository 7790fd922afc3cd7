"""The networks, the scikit-learn baselines and the registry that builds them from a ``ModelSpec``."""

from practica.config.schema import register_model_check
from practica.models.registry import check_model_params

register_model_check(check_model_params)
