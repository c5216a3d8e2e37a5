"""g_a and g_s run by torch from the network itself (the training runtime; also the reference)."""

from __future__ import annotations

import numpy as np


class TorchTransforms:
    """:class:`~rdcodec.runtime.transforms.Transforms` of an :class:`~rdcodec.model.network.RDAutoencoder`."""

    name = "torch"

    def __init__(self, network, threads: int | None = None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.network = network

    def analysis(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        from rdcodec.image_tensor import to_tensor

        with torch.no_grad():
            return self.network.encode_latent(to_tensor(pixels))[0].numpy()

    def synthesis(self, latent: np.ndarray) -> np.ndarray:
        import torch

        from rdcodec.image_tensor import to_pixels

        with torch.no_grad():
            return to_pixels(self.network.decode_latent(torch.from_numpy(np.ascontiguousarray(latent))[None]))


__all__ = ["TorchTransforms"]
