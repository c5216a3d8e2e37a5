"""Entropy coding of latent symbols: frozen integer tables + constriction's range coder.

numpy-only: nothing in :mod:`rdcodec.format` imports torch.
"""

from rdcodec.format.range_coding import (
    CODER_SLACK_BITS,
    CodedSymbols,
    EntropyDecodeError,
    decode,
    encode,
    estimate_bits,
    minimum_bits,
)
from rdcodec.format.tables import PRECISION, FrozenTables, TableError, freeze, quantize_pmf

__all__ = [
    "CODER_SLACK_BITS",
    "PRECISION",
    "CodedSymbols",
    "EntropyDecodeError",
    "FrozenTables",
    "TableError",
    "decode",
    "encode",
    "estimate_bits",
    "freeze",
    "minimum_bits",
    "quantize_pmf",
]
