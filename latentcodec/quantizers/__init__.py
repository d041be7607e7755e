"""Quantizers shared by every modality, one per file.

Latent quantizers (those that code a Gaussian-conditional latent) are named
here, so that a stream's header can say which one made it.
"""

from importlib import import_module

from latentcodec.quantizers.fsq import FiniteScalarQuantizer
from latentcodec.quantizers.lattice_trellis import LatticeTrellisQuantizer
from latentcodec.quantizers.trellis import TrellisQuantizer
from latentcodec.quantizers.uniform import RoundingStandIns, UniformQuantizer

# these load vector_quantize_pytorch (about a second), so only when first used
_LAZY = {
    "ResidualVectorQuantizer": "latentcodec.quantizers.residual_vq",
    "ResidualScalarVectorQuantizer": "latentcodec.quantizers.residual_scalar_vector",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


LATENT_QUANTIZERS = {q.name: q for q in (UniformQuantizer, TrellisQuantizer)}


def parse_quantizer(spec: str, choices: dict = LATENT_QUANTIZERS):
    """A latent quantizer from ``NAME`` or ``NAME:key=value,...`` (e.g.
    ``tcq:states=4,lmbda=0.05``); keys not given keep their defaults."""
    name, _, options = spec.partition(":")
    if name not in choices:
        raise ValueError(f"unknown quantizer {name!r}; choose from {', '.join(choices)}")
    params = {}
    for item in filter(None, options.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"quantizer option {item!r} is not key=value")
        params[key] = float(value) if "." in value or "e" in value else int(value)
    try:
        return choices[name](**params)
    except TypeError as e:
        raise ValueError(f"bad options for quantizer {name!r}: {e}") from None


def quantizer_from_params(params: dict):
    """The decoder's quantizer from what :meth:`params` wrote to a header."""
    params = dict(params)
    name = params.pop("name", None)
    if name not in LATENT_QUANTIZERS:
        raise ValueError(f"unknown quantizer {name!r}")
    try:
        return LATENT_QUANTIZERS[name](**params)
    except TypeError as e:
        raise ValueError(f"bad parameters for quantizer {name!r}: {e}") from None


__all__ = [
    "LATENT_QUANTIZERS",
    "FiniteScalarQuantizer",
    "LatticeTrellisQuantizer",
    "ResidualScalarVectorQuantizer",
    "ResidualVectorQuantizer",
    "RoundingStandIns",
    "TrellisQuantizer",
    "UniformQuantizer",
    "parse_quantizer",
    "quantizer_from_params",
]
