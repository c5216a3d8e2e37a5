"""Training: one loop (loop.py) for every network rdcodec trains, one checkpoint schema.

config.py            TrainConfig (typed), load_train_config, --set overrides, ConfigError
objective.py         eq. 5 and the Ballé baseline
data.py              random crops (flips, rescaling) from images held in memory
checkpoint.py        the one checkpoint schema, written atomically
loop.py              the one loop: resume, LR schedule, logging, validation, checkpoints
codec_task.py        the codec network: eq. 5 / Ballé (fixed or variable Δ), decoder phase, DDP
face_task.py         the §5.3 face networks (RaDOGAGA, β-VAE)
"""

from rdcodec.train.config import ConfigError, TrainConfig, apply_override, load_train_config

__all__ = ["ConfigError", "TrainConfig", "apply_override", "load_train_config", "train"]


def __getattr__(name):
    if name == "train":
        from rdcodec.train.codec_task import train

        return train
    raise AttributeError(f"module 'rdcodec.train' has no attribute {name!r}")
