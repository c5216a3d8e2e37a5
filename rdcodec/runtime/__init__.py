"""Inference runtimes for the transforms: ONNX Runtime (encode/decode, no torch) and torch.

Both give :class:`~rdcodec.runtime.transforms.Transforms`: ``analysis`` (uint8 pixels → latent)
and ``synthesis`` (latent → uint8 pixels) on numpy arrays, which :mod:`rdcodec.tiling` runs
tile by tile. ``graphs`` builds the ONNX graphs at export.
"""
