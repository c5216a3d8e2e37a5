"""The paper's §5.3 / appendix F networks for 64×64 faces: RaDOGAGA and the β-VAE baseline.

Both share one trunk (compressai GDN layers, imported through :mod:`rdcodec.model.network`)::

    x [B,3,64,64] ─► conv9×9/2,64,GDN ─► conv5×5/2,64,GDN ─► conv5×5/2,64,GDN ─► conv5×5/2,64,GDN
                 ─► flatten 1024 ─► FC 8192 softplus ─► FC 256 ─► z            (β-VAE: μ and log σ²)
    z ─► FC 8192 softplus ─► FC 1024 softplus ─► reshape 64×4×4
      ─► deconv5×5/2,IGDN ×3 ─► deconv9×9/2 ─► x̂ [B,3,64,64]

RaDOGAGA's prior is a factorized EntropyBottleneck over the 256 dimensions of z; its loss is
eq. 5 with D = 1 − SSIM and h(d) = d. The β-VAE loss is D(x, g(z̃)) + β·KL(q(z|x) ‖ N(0, I)),
z̃ = μ + σ·n, with the same D. Both expose ``encode_latent`` / ``decode_latent`` for
:mod:`rdcodec.analysis.latent` (the β-VAE encodes to μ).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch
from torch import nn

from rdcodec.distortion import distortion
from rdcodec.model.network import GDN, EntropyBottleneck
from rdcodec.model.precision import bf16_autocast


@dataclasses.dataclass(frozen=True)
class FaceConfig:
    channels: int = 64
    hidden: int = 8192
    latent: int = 256
    size: int = 64  # input side; the trunk reduces it 16×

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _trunk_encoder(c: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, c, 9, 2, 4),
        GDN(c),
        nn.Conv2d(c, c, 5, 2, 2),
        GDN(c),
        nn.Conv2d(c, c, 5, 2, 2),
        GDN(c),
        nn.Conv2d(c, c, 5, 2, 2),
        GDN(c),
    )


def _trunk_decoder(c: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c, c, 5, 2, 2, output_padding=1),
        GDN(c, inverse=True),
        nn.ConvTranspose2d(c, c, 5, 2, 2, output_padding=1),
        GDN(c, inverse=True),
        nn.ConvTranspose2d(c, c, 5, 2, 2, output_padding=1),
        GDN(c, inverse=True),
        nn.ConvTranspose2d(c, 3, 9, 2, 4, output_padding=1),
    )


class FaceLoss(NamedTuple):
    total: torch.Tensor
    rate: torch.Tensor  # RaDOGAGA: bits per pixel of z + ε; β-VAE: KL in nats per image
    distortion: torch.Tensor  # D(x, g(z)) (RaDOGAGA) or D(x, g(z̃)) (β-VAE)
    scaling: torch.Tensor  # D(g(z), g(z + ε)); 0 for the β-VAE


class _FaceBase(nn.Module):
    def __init__(self, config: FaceConfig, latent_outputs: int):
        super().__init__()
        self.config = config
        c, side = config.channels, config.size // 16
        flat = c * side * side
        self.trunk_a = _trunk_encoder(c)
        self.fc_a = nn.Sequential(nn.Linear(flat, config.hidden), nn.Softplus(), nn.Linear(config.hidden, latent_outputs))
        self.fc_s = nn.Sequential(
            nn.Linear(config.latent, config.hidden), nn.Softplus(), nn.Linear(config.hidden, flat), nn.Softplus()
        )
        self.trunk_s = _trunk_decoder(c)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_a(self.trunk_a(x).flatten(1))

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        c, side = self.config.channels, self.config.size // 16
        return self.trunk_s(self.fc_s(z).view(len(z), c, side, side))


class FaceRaDOGAGA(_FaceBase):
    """Deterministic encoder, factorized prior over z (256), eq. 5 with D = 1 − SSIM."""

    def __init__(self, config: FaceConfig = FaceConfig()):
        super().__init__(config, config.latent)
        self.entropy_bottleneck = EntropyBottleneck(config.latent)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)

    def loss(self, x: torch.Tensor, lambda1: float, lambda2: float, metric: str = "ssim", bf16: bool = False) -> FaceLoss:
        """Eq. 5 for a batch; with ``bf16`` the trunk and FC layers run under bfloat16 autocast,
        the prior and the distortions in float32 (as the codec network's training pass)."""
        with bf16_autocast(x, bf16):
            z = self.encode_latent(x)
        z = z.float()
        z_noisy, likelihoods = self.entropy_bottleneck(z[:, :, None, None], training=True)
        with bf16_autocast(x, bf16):
            decoded = self.decode_latent(torch.cat([z, z_noisy[:, :, 0, 0]]))
        decoded = decoded.float()
        x_clean, x_noisy = decoded[: len(x)], decoded[len(x) :]
        pixels = x.shape[0] * x.shape[2] * x.shape[3]
        rate = torch.log(likelihoods).sum() / (-math.log(2) * pixels)
        d = distortion(metric, x, x_clean)
        scaling = distortion(metric, x_clean, x_noisy)
        return FaceLoss(rate + lambda1 * d + lambda2 * scaling, rate, d, scaling)

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()


class FaceBetaVAE(_FaceBase):
    """Same trunk; the encoder's last layer gives μ and log σ² (two branches of 256)."""

    def __init__(self, config: FaceConfig = FaceConfig()):
        super().__init__(config, 2 * config.latent)

    def encode_latent(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(x)[:, : self.config.latent]

    def loss(self, x: torch.Tensor, beta: float, metric: str = "ssim", bf16: bool = False) -> FaceLoss:
        """D(x, g(z̃)) + β·KL; ``bf16`` as for :meth:`FaceRaDOGAGA.loss` (KL in float32)."""
        with bf16_autocast(x, bf16):
            stats = self._features(x)
        stats = stats.float()
        mu, logvar = stats[:, : self.config.latent], stats[:, self.config.latent :].clamp(-20, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        with bf16_autocast(x, bf16):
            x_hat = self.decode_latent(z)
        x_hat = x_hat.float()
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        d = distortion(metric, x, x_hat)
        return FaceLoss(d + beta * kl, kl, d, torch.zeros(()))

    def aux_loss(self) -> torch.Tensor:
        return torch.zeros(())


def load_faces(folder, limit: int | None = None, crop: int = 70, size: int = 64):
    """CelebA aligned faces: centre ``crop``×``crop``, resized to ``size``×``size`` (float [0,1])."""
    import numpy as np
    from PIL import Image

    from rdcodec.image_io import list_images
    from rdcodec.image_tensor import to_tensor

    out = []
    for path in list_images(folder)[:limit]:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            left, top = (w - crop) // 2, (h - crop) // 2
            face = im.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BICUBIC)
            out.append(np.asarray(face, dtype=np.uint8))
    return to_tensor(np.stack(out))


def reconstruction_ssim(model: nn.Module, x: torch.Tensor, batch: int = 256) -> float:
    """Mean SSIM of g(f(x)) against x (deterministic: z, or μ for the β-VAE)."""
    with torch.no_grad():
        scores = []
        for i in range(0, len(x), batch):
            xb = x[i : i + batch]
            scores.append((1 - distortion("ssim", xb, model.decode_latent(model.encode_latent(xb)).clamp(0, 1))).item() * len(xb))
    return sum(scores) / len(x)


__all__ = ["FaceBetaVAE", "FaceConfig", "FaceLoss", "FaceRaDOGAGA", "load_faces", "reconstruction_ssim"]
