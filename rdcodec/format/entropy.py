"""Entropy coding of latent symbols: frozen integer tables + constriction's range coder.

numpy-only: nothing in :mod:`rdcodec.format` imports torch.
"""

from rdcodec.format.range_coding import CodedSymbols, EntropyDecodeError, decode, encode, estimate_bits
from rdcodec.format.tables import PRECISION, FrozenTables, TableError, freeze, quantize_pmf

__all__ = [
    "PRECISION",
    "CodedSymbols",
    "EntropyDecodeError",
    "FrozenTables",
    "TableError",
    "decode",
    "encode",
    "estimate_bits",
    "freeze",
    "quantize_pmf",
]
