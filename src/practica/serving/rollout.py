"""From ``practica serve``'s options to a ``Deployment``: every model loaded and checked before a port is bound.

With a registry, the primary is an alias's version (and follows it), and ``--shadow``/``--canary`` name
versions (``3``, ``v3``) or aliases; without one, they are bundle folders. ``--canary`` is ``VERSION:FRACTION``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from practica.bundle.load import Bundle, load_bundle
from practica.errors import RegistryError
from practica.registry import ENV_REGISTRY, Registry, open_registry, registry_dir
from practica.serving.canary import CanaryPolicy
from practica.serving.deployment import Challenger, Deployment, RegistrySource


def parse_canary(text: str) -> tuple[str, float]:
    """``"v3:0.1"`` → ``("v3", 0.1)``; the fraction is a share of clients in (0, 1] (``10%`` reads as 0.1)."""
    ref, sep, share = text.rpartition(":")
    expected = "VERSION:FRACTION, e.g. --canary v3:0.1 (a tenth of the clients) or --canary canary:5%"
    if not sep or not ref:
        raise RegistryError(f"--canary {text!r} names no share of clients; give {expected}")
    try:
        fraction = float(share[:-1]) / 100 if share.endswith("%") else float(share)
    except ValueError:
        raise RegistryError(f"--canary {text!r}: {share!r} is not a number; give {expected}") from None
    if not 0 < fraction <= 1:
        raise RegistryError(f"--canary {text!r}: the share of clients must be above 0 and at most 1 (100%); "
                            f"give {expected}")
    return ref, fraction


def build_deployment(*, bundle: Path | None, registry: Path | None, alias: str = "production",
                     shadow: str | None = None, canary: str | None = None, policy: CanaryPolicy | None = None,
                     threads: int | None = None, poll_s: float = 1.0) -> Deployment:
    """Load and check every model the options name (a RegistryError or BundleError says what is wrong)."""
    if bundle is not None and registry is not None:
        raise RegistryError("give a BUNDLE or --registry DIR, not both (with --registry, the alias's version is "
                            "served: --alias)")
    if bundle is None and registry_dir(registry) is None:
        raise RegistryError(f"nothing to serve: give a BUNDLE folder, or --registry DIR (or set {ENV_REGISTRY}) "
                            "to serve its production alias")
    canary_ref, fraction = parse_canary(canary) if canary is not None else (None, 0.0)
    if bundle is not None:
        deployment = Deployment(
            _checked(load_bundle(bundle, threads=threads)),
            shadow=None if shadow is None else Challenger(_checked(load_bundle(shadow, threads=threads))),
            canary=None if canary_ref is None else Challenger(_checked(load_bundle(canary_ref, threads=threads))),
            canary_fraction=fraction, canary_policy=policy)
        deployment.recipe = _recipe(bundle=str(Path(bundle).resolve()), registry=None, alias=alias,
                                    shadow=_resolved(shadow), canary=canary if canary_ref is None else
                                    f"{Path(canary_ref).resolve()}:{fraction}", policy=policy, poll_s=poll_s)
        return deployment
    reg = open_registry(registry)
    if alias not in reg.aliases():
        raise RegistryError(f"alias {alias!r} does not exist in the registry at {reg.root}; its aliases: "
                            f"{', '.join(sorted(reg.aliases())) or 'none'}. Point it at a version: practica "
                            f"registry promote {alias} N --registry {reg.root}")
    number = reg.version(alias).number
    deployment = Deployment(
        _checked(load_bundle(reg.path(number), threads=threads)),
        source=RegistrySource(reg, alias, number, poll_s=poll_s),
        shadow=None if shadow is None else _challenger(reg, shadow, threads),
        canary=None if canary_ref is None else _challenger(reg, canary_ref, threads),
        canary_fraction=fraction, canary_policy=policy)
    deployment.recipe = _recipe(bundle=None, registry=str(reg.root.resolve()), alias=alias, shadow=shadow,
                                canary=canary, policy=policy, poll_s=poll_s)
    return deployment


def rebuild_deployment(recipe: dict[str, Any], threads: int | None = None) -> Deployment:
    """A deployment built again from its ``recipe`` (JSON-able): how each worker process builds its own."""
    policy = recipe["policy"]
    return build_deployment(bundle=None if recipe["bundle"] is None else Path(recipe["bundle"]),
                            registry=None if recipe["registry"] is None else Path(recipe["registry"]),
                            alias=recipe["alias"], shadow=recipe["shadow"], canary=recipe["canary"],
                            policy=None if policy is None else CanaryPolicy(**policy), threads=threads,
                            poll_s=recipe["poll_s"])


def _recipe(*, bundle: str | None, registry: str | None, alias: str, shadow: str | None, canary: str | None,
            policy: CanaryPolicy | None, poll_s: float) -> dict[str, Any]:
    return {"bundle": bundle, "registry": registry, "alias": alias, "shadow": shadow, "canary": canary,
            "policy": None if policy is None else asdict(policy), "poll_s": poll_s}


def _resolved(path: str | None) -> str | None:
    return None if path is None else str(Path(path).resolve())


def _challenger(reg: Registry, ref: str, threads: int | None) -> Challenger:
    number = reg.version(ref).number
    named_by_alias = ref in reg.aliases()
    return Challenger(_checked(load_bundle(reg.path(number), threads=threads)), registry_version=number,
                      alias=ref if named_by_alias else None)


def _checked(bundle: Bundle) -> Bundle:
    """The bundle with its ONNX session started: a model ONNX Runtime cannot load fails here, not at start-up."""
    bundle.session  # noqa: B018 — raises BundleError if ONNX Runtime cannot load it or it disagrees with the card
    return bundle

