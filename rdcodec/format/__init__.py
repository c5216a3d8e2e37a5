"""The ``.rdc`` file format: container bytes and entropy coding of the latent symbols.

stdlib, numpy and constriction only — nothing here imports torch, so a stream can be parsed and
checked before any network is loaded::

    container.py     magic, version, model digest, sizes, CRCs (docs/format.md)
    tables.py        frozen integer probability tables (written once, at export)
    range_coding.py  constriction's range coder over those tables, with an escape path
    entropy.py       the façade the codec uses (encode / decode / estimate_bits)
"""
