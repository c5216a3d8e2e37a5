"""Training: one loop (loop.py) for every network rdcodec trains, one checkpoint schema.

config.py            TrainConfig (typed), load_train_config, --set overrides, ConfigError
objective.py         eq. 5 and the Ballé baseline
data.py              random crops (flips, rescaling) from images held in memory
heap.py              memory settings so training steps reuse their pages (glibc heap, huge pages)
checkpoint.py        the one checkpoint schema, written atomically
loop.py              the one loop: resume, LR schedule, logging, validation, checkpoints
run_lock.py          one process per run directory (an exclusive lock while a run trains)
run_log.py           a run's log.jsonl: the loop's writer, the tools' reader (torn lines, repeated steps)
codec_task.py        the codec network: eq. 5 / Ballé (fixed or variable Δ), decoder phase, DDP
face_task.py         the §5.3 face networks (RaDOGAGA, β-VAE)
"""

# Lazy: importing a submodule runs this file, and rdcodec.train.heap must stay free of torch
# (its huge-page advice counts only before torch's first allocation).
_LAZY = {
    "ConfigError": "rdcodec.train.config",
    "TrainConfig": "rdcodec.train.config",
    "apply_override": "rdcodec.train.config",
    "load_train_config": "rdcodec.train.config",
    "RunDirectoryInUse": "rdcodec.train.run_lock",
    "train": "rdcodec.train.codec_task",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rdcodec.train' has no attribute {name!r}")
