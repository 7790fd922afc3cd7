"""A local model registry: bundles as numbered versions, and aliases (``production``, ``staging``, any name)
that point at them. See ``store.py``."""

from practica.registry.store import ENV_REGISTRY, AliasMove, Registry, Version, open_registry, registry_dir

__all__ = ["ENV_REGISTRY", "AliasMove", "Registry", "Version", "open_registry", "registry_dir"]
