"""Typed settings of a model, shared by training, the manifest and the CLI (stdlib only).

:class:`NetworkConfig` is the architecture (stored beside the weights), :class:`ObjectiveConfig`
the training objective (paper eq. 5 or the Ballé baseline; stored in checkpoints and in every
manifest entry). Nothing here imports torch, so the registry and ``rdcodec --help`` stay light.
"""

from __future__ import annotations

import dataclasses

#: The distortion measures D (rdcodec.distortion): MSE, 1 − SSIM, 1 − MS-SSIM.
METRICS = ("mse", "ssim", "ms-ssim")
H_FUNCTIONS = ("identity", "log")
KINDS = ("radogaga", "balle")


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
    kind: str = "radogaga"
    metric: str = "ssim"
    h: str = "identity"
    lambda1: float = 10.0
    lambda2: float = 10.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"objective kind must be one of {KINDS}, not {self.kind!r}")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, not {self.metric!r}")
        if self.h not in H_FUNCTIONS:
            raise ValueError(f"h must be one of {H_FUNCTIONS}, not {self.h!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ObjectiveConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Architecture of one model, stored beside its weights.

    N: channels of the hidden layers; M: latent channels (the dimension of z per position).
    """

    N: int = 64
    M: int = 96

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NetworkConfig":
        return cls(N=int(data["N"]), M=int(data["M"]))
