"""Quantizers shared by every modality, one per file.

Latent quantizers (those that code a Gaussian-conditional latent) are named
here, so that a stream's header can say which one made it.
"""

from latentcodec.quantizers.trellis import TrellisQuantizer
from latentcodec.quantizers.uniform import UniformQuantizer

LATENT_QUANTIZERS = {q.name: q for q in (UniformQuantizer, TrellisQuantizer)}


def parse_quantizer(spec: str, defaults: dict | None = None):
    """A latent quantizer from ``NAME`` or ``NAME:key=value,...`` (e.g.
    ``tcq:states=4,lmbda=0.05``); ``defaults[NAME]`` fills the keys not given."""
    name, _, options = spec.partition(":")
    if name not in LATENT_QUANTIZERS:
        raise ValueError(f"unknown quantizer {name!r}; choose from {', '.join(LATENT_QUANTIZERS)}")
    params = dict((defaults or {}).get(name, {}))
    for item in filter(None, options.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"quantizer option {item!r} is not key=value")
        params[key] = float(value) if "." in value or "e" in value else int(value)
    try:
        return LATENT_QUANTIZERS[name](**params)
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


__all__ = ["LATENT_QUANTIZERS", "TrellisQuantizer", "UniformQuantizer", "parse_quantizer", "quantizer_from_params"]
