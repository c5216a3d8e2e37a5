"""Training: one loop (loop.py) for every network rdcodec trains, one checkpoint schema.

    config.py            TrainConfig (typed), load_train_config, --set overrides, ConfigError
    objective.py         eq. 5 and the Ballé baseline
    loop.py              the codec's training run (resume, atomic checkpoints, bf16, DDP, logs)
    decoder_refinement.py  optional phase: the decoder alone on quantized latents
"""

from rdcodec.train.config import ConfigError, TrainConfig, apply_override, load_train_config

__all__ = ["ConfigError", "TrainConfig", "apply_override", "load_train_config", "train"]


def __getattr__(name):
    if name == "train":
        from rdcodec.train.loop import train

        return train
    raise AttributeError(f"module 'rdcodec.train' has no attribute {name!r}")
