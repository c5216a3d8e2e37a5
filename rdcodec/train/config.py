"""Typed training configuration: one JSON object of :class:`TrainConfig` fields.

A config file is read with :func:`load_train_config`, and ``--set key=value`` overrides single
fields (the value is JSON, or a plain string; dotted keys reach ``network.*`` and
``objective.*``). Every problem — a missing or malformed file, an unknown key, a value of the
wrong kind — is one :class:`ConfigError` with a one-line message, before anything is trained.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from rdcodec.json_file import JSONFileError, read_json_object
from rdcodec.model.network import STRIDE, NetworkConfig
from rdcodec.train.objective import ObjectiveConfig


class ConfigError(ValueError):
    """The training configuration cannot be used (one line, says what is wrong)."""


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs; stored in the run directory and in every checkpoint."""

    train_dirs: list[str]
    val_dir: str | None = None
    network: NetworkConfig = dataclasses.field(default_factory=NetworkConfig)
    objective: ObjectiveConfig = dataclasses.field(default_factory=ObjectiveConfig)
    steps: int = 10000
    batch_size: int = 16
    crop: int = 128
    lr: float = 1e-4
    prior_lr_scale: float = 10.0  # learning rate of P_ψ's density parameters = lr × this
    lr_final: float | None = None  # cosine decay from lr (at lr_decay_start) to lr_final (at steps)
    lr_decay_start: int = 0
    init_from: str | None = None  # start a new run from these weights (checkpoint or exported model .pt)
    aux_lr: float = 1e-3
    clip_grad: float = 1.0
    seed: int = 0
    bf16: bool = False
    device: str = "cpu"
    threads: int = 0  # 0 = torch default
    val_every: int = 500
    val_images: int = 8
    val_crop: int = 256
    checkpoint_every: int = 100
    log_every: int = 50
    # variable rate: each batch draws Δ log-uniformly from [Δ_min, Δ_max] and trains at it
    # (noise of width Δ, bins of width Δ, λ1 and λ2 scaled by 1/Δ²); None = Δ = 1 throughout.
    # In the decoder phase each batch is quantized at a Δ drawn the same way (None: val_steps[0])
    step_range: list[float] | None = None
    # random rescaling of each crop's source region by a factor drawn log-uniformly from
    # [s_min, s_max] (s < 1 shrinks: a crop then holds more of the scene); None = no rescaling
    scale_range: list[float] | None = None
    channels_last: bool = False
    # torch.compile the training pass (forward and loss; autograd builds the backward from the
    # same graphs): a one-off compile of about a minute at each launch for fewer s/step
    # (docs/rd/campaign.md, "Training speed"); weights and checkpoints are the same either way
    compile: bool = False
    # keep freed memory in the process heap (glibc): steps reuse their pages instead of faulting
    # fresh ones (rdcodec.train.heap; docs/training.md, "Memory allocator"); process-wide
    retain_freed_memory: bool = True
    # validation operating points (quantization steps Δ); None = Δ = 1 only
    val_steps: list[float] | None = None
    # "eq5": the whole network on eq. 5 (or the Ballé loss); "decoder": only g_s, on the
    # quantized latent (encoder and prior frozen; see rdcodec.train.codec_task)
    phase: str = "eq5"

    def __post_init__(self):
        if isinstance(self.network, dict):
            self.network = _nested(NetworkConfig, self.network, "network")
        if isinstance(self.objective, dict):
            self.objective = _nested(ObjectiveConfig, self.objective, "objective")
        self._check()

    def _check(self) -> None:
        if not isinstance(self.train_dirs, list) or not all(isinstance(d, str) for d in self.train_dirs):
            raise ConfigError("train_dirs must be a list of folder paths")
        for name in (
            "steps",
            "batch_size",
            "crop",
            "val_every",
            "val_images",
            "val_crop",
            "checkpoint_every",
            "log_every",
            "seed",
            "threads",
            "lr_decay_start",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, not {value!r}")
        for name in ("batch_size", "crop", "checkpoint_every", "log_every"):
            if getattr(self, name) == 0:
                raise ConfigError(f"{name} must be positive")
        if self.crop % STRIDE:
            raise ConfigError(f"crop must be a multiple of {STRIDE}, not {self.crop}")
        for name in ("lr", "prior_lr_scale", "aux_lr", "clip_grad"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number, not {value!r}")
        for name in ("step_range", "scale_range"):
            pair = getattr(self, name)
            if pair is not None and not (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(v, (int, float)) for v in pair)
                and 0 < pair[0] <= pair[1]
            ):
                raise ConfigError(f"{name} must be [low, high] with 0 < low <= high, not {pair!r}")
        if self.val_steps is not None and not (
            isinstance(self.val_steps, list)
            and self.val_steps
            and all(isinstance(v, (int, float)) and v > 0 for v in self.val_steps)
        ):
            raise ConfigError(f"val_steps must be a list of positive steps, not {self.val_steps!r}")
        for name in ("bf16", "channels_last", "compile", "retain_freed_memory"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, not {getattr(self, name)!r}")
        if self.phase not in ("eq5", "decoder"):
            raise ConfigError(f"phase must be 'eq5' or 'decoder', not {self.phase!r}")

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        if not isinstance(data, dict):
            raise ConfigError("a training config is a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        if "train_dirs" not in data:
            raise ConfigError("train_dirs is required (a list of training image folders)")
        try:
            return cls(**data)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _nested(cls, data, name: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must be a JSON object")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {name} option{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def apply_override(config: dict, assignment: str) -> None:
    """Set ``a.b=value`` in a nested dict; ``value`` is JSON, or a plain string if not JSON."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE, got {assignment!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    *parents, leaf = key.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a group of options")
    node[leaf] = value


def load_train_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """The config in ``path`` (a JSON object; none = all defaults) with ``overrides`` applied."""
    data: dict = {}
    if path is not None:
        try:
            data = read_json_object(path)
        except JSONFileError as exc:
            raise ConfigError(str(exc)) from None
    for item in overrides:
        apply_override(data, item)
    return TrainConfig.from_dict(data)
