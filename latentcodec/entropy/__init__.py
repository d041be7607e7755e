"""Entropy coding shared by every modality: the C range coder, integer CDF
tables and the entropy models whose tables it codes with."""

from latentcodec.entropy.cdf import CdfTables, quantize_pmf
from latentcodec.entropy.conditional import (
    CONDITIONAL_MODELS,
    GaussianConditional,
    LaplaceConditional,
    LogisticConditional,
)
from latentcodec.entropy.factorized import FactorizedPrior
from latentcodec.entropy.range_coder import RangeDecoder, RangeEncoder

__all__ = [
    "CONDITIONAL_MODELS",
    "CdfTables",
    "FactorizedPrior",
    "GaussianConditional",
    "LaplaceConditional",
    "LogisticConditional",
    "RangeDecoder",
    "RangeEncoder",
    "quantize_pmf",
]
