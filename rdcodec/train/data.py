"""Training data: random crops (flips, optional rescaling) from images held in memory.

Images are decoded once, at start, into uint8 arrays (:func:`load_images`); a batch is cut from
them on the training thread (:class:`CropSampler`; ``tools/bench_training_speed.py`` measures
its share of a step).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rdcodec.image_io import list_images, read_rgb_array
from rdcodec.image_tensor import to_tensor
from rdcodec.model.network import STRIDE


class CropSampler:
    """Random crops with flips from images held in memory as uint8 arrays.

    With ``scale_range = (s_min, s_max)`` each crop is cut from a region of ``crop / s`` pixels
    (s drawn log-uniformly, capped by the image size) resized to ``crop`` with Pillow's
    antialiased bicubic filter: s < 1 shrinks the scene into the crop.
    """

    def __init__(self, images: list[np.ndarray], crop: int, seed: int, scale_range: tuple[float, float] | None = None):
        self.images = [im for im in images if min(im.shape[:2]) >= crop]
        if not self.images:
            raise ValueError(f"no training image is at least {crop}×{crop}")
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        if scale_range is not None and not (0 < scale_range[0] <= scale_range[1]):
            raise ValueError(f"scale_range must be 0 < s_min <= s_max, not {scale_range}")
        self.log_scale = None if scale_range is None else (math.log(scale_range[0]), math.log(scale_range[1]))

    def _region(self, im: np.ndarray) -> np.ndarray:
        c = self.crop
        if self.log_scale is None:
            r = c
        else:
            s = math.exp(self.rng.uniform(*self.log_scale))
            r = min(max(1, round(c / s)), im.shape[0], im.shape[1])
        y = self.rng.integers(im.shape[0] - r + 1)
        x = self.rng.integers(im.shape[1] - r + 1)
        patch = im[y : y + r, x : x + r]
        if r != c:
            from PIL import Image

            patch = np.asarray(Image.fromarray(patch).resize((c, c), Image.Resampling.BICUBIC, reducing_gap=None))
        return patch

    def batch(self, size: int) -> torch.Tensor:
        c = self.crop
        out = np.empty((size, c, c, 3), dtype=np.uint8)
        for i in range(size):
            im = self.images[self.rng.integers(len(self.images))]
            patch = self._region(im)
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            if self.rng.random() < 0.5:
                patch = patch[::-1]
            out[i] = patch
        return to_tensor(out)


def load_images(dirs: list[str]) -> list[np.ndarray]:
    arrays = []
    for d in dirs:
        for path in list_images(Path(d)):
            arrays.append(read_rgb_array(path))
    return arrays


def center_crop(im: np.ndarray, size: int) -> np.ndarray:
    h, w = im.shape[:2]
    s_h = min(size, h - h % STRIDE)
    s_w = min(size, w - w % STRIDE)
    y, x = (h - s_h) // 2, (w - s_w) // 2
    return im[y : y + s_h, x : x + s_w]
