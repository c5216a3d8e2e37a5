"""Training the paper's §5.3 face networks (:mod:`rdcodec.model.face`): the task for the loop.

One step draws a batch of faces (held in memory as a float tensor) and takes an Adam step on
the model's own loss — RaDOGAGA: eq. 5 with D = 1 − SSIM, h(d) = d, (λ1, λ2); β-VAE:
D + β·KL — plus, for RaDOGAGA, a step of the prior's quantile loss. Validation is the
reconstruction SSIM on held-out faces (``held_out_ssim``), kept in the checkpoint's history.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import torch

from rdcodec.model.face import FaceBetaVAE, FaceConfig, FaceRaDOGAGA, reconstruction_ssim
from rdcodec.model.precision import usable_bf16
from rdcodec.train.checkpoint import CheckpointError, load_checkpoint
from rdcodec.train.heap import retain_freed_memory
from rdcodec.train.loop import LoopSettings, run

KINDS = ("radogaga", "betavae")


@dataclasses.dataclass(frozen=True)
class FaceTrainConfig:
    kind: str = "radogaga"  # or "betavae"
    model: FaceConfig = FaceConfig()
    steps: int = 20000
    batch_size: int = 64
    lr: float = 1e-4
    aux_lr: float = 1e-3
    lambda1: float = 1.0  # RaDOGAGA
    lambda2: float = 0.1  # RaDOGAGA
    beta: float = 1e-4  # β-VAE
    seed: int = 0
    device: str = "cpu"
    # bfloat16 autocast for the trunk and FC layers (prior, KL and SSIM stay float32); used
    # only where the hardware has bf16 (rdcodec.model.precision), float32 elsewhere
    bf16: bool = False
    # keep freed memory in the process heap (rdcodec.train.heap): fewer page faults per step
    retain_freed_memory: bool = True
    val_every: int = 1000
    checkpoint_every: int = 200
    log_every: int = 50

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"face model kind must be one of {KINDS}, not {self.kind!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class FaceTask:
    """The :class:`~rdcodec.train.loop.TrainingTask` of one face network."""

    is_main = True

    def __init__(self, config: FaceTrainConfig, faces: torch.Tensor, held_out: torch.Tensor | None = None):
        self.config, self.faces, self.held_out = config, faces, held_out
        self.name = f"face-{config.kind}"
        self.device = torch.device(config.device)
        torch.manual_seed(config.seed)
        self.model = (FaceRaDOGAGA if config.kind == "radogaga" else FaceBetaVAE)(config.model).to(self.device)
        self.bf16 = usable_bf16(config.bf16, self.device.type)
        main = [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]
        aux = [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]
        self.optimizer = torch.optim.Adam(main, lr=config.lr)
        self.aux_optimizer = torch.optim.Adam(aux, lr=config.aux_lr) if aux else None
        self.base_lrs = [config.lr]
        self.generator = torch.Generator()

    def load_state(self, task_state: dict, step: int) -> None:
        if task_state.get("generator") is not None:
            self.generator.set_state(task_state["generator"])
        else:
            self.generator.manual_seed(self.config.seed + step)

    def state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def settings(self) -> dict:
        return {"network": self.config.model.to_dict(), "objective": {"kind": self.config.kind}, "config": self.config.to_dict()}

    def train_step(self) -> dict[str, float]:
        c = self.config
        idx = torch.randint(len(self.faces), (c.batch_size,), generator=self.generator)
        x = self.faces[idx].to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        if c.kind == "radogaga":
            terms = self.model.loss(x, c.lambda1, c.lambda2, bf16=self.bf16)
        else:
            terms = self.model.loss(x, c.beta, bf16=self.bf16)
        terms.total.backward()
        self.optimizer.step()
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
            self.model.aux_loss().backward()
            self.aux_optimizer.step()
        return {"loss": terms.total.item(), "rate": terms.rate.item(), "distortion": terms.distortion.item()}

    def validate(self) -> list[dict]:
        if self.held_out is None:
            return []
        self.model.eval()
        return [{"held_out_ssim": reconstruction_ssim(self.model, self.held_out.to(self.device))}]

    def sync(self) -> None:
        pass


def train_face_model(
    config: FaceTrainConfig, faces: torch.Tensor, run_dir: Path, held_out: torch.Tensor | None = None, progress: bool = False
) -> tuple[torch.nn.Module, list[dict], int]:
    """Train (or resume) one face network in ``run_dir``; a checkpoint past ``steps`` is used as it is.

    Returns the model (eval mode, CPU), its validation history and the steps it was trained.
    """
    if config.retain_freed_memory:
        retain_freed_memory()
    task = FaceTask(config, faces, held_out)
    settings = LoopSettings(
        steps=config.steps,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
        val_every=config.val_every if held_out is not None else 0,
        progress=progress,
    )
    path = run(task, Path(run_dir), settings, {"config": config.to_dict()})
    if not path.exists():  # steps = 0 on a fresh run
        return task.model.eval().cpu(), [], 0
    state = load_checkpoint(path)
    return task.model.eval().cpu(), list(state["history"]), int(state["step"])


class FaceNetwork(typing.NamedTuple):
    """A trained face network read back from a run's checkpoint or weights-only snapshot."""

    model: torch.nn.Module  # eval mode, float32 weights (a bfloat16 snapshot is widened)
    step: int
    kind: str  # "radogaga" or "betavae"
    config: dict  # the run's FaceTrainConfig, as saved


def load_face_network(path: Path) -> FaceNetwork:
    """The face network of a checkpoint or snapshot written by :func:`train_face_model`
    (``CheckpointError``, one line, for anything else)."""
    state = load_checkpoint(path)
    config = state.get("config") or {}
    if not isinstance(config, dict) or config.get("kind") not in ("radogaga", "betavae") or "model" not in config:
        raise CheckpointError(f"{path}: not a face network's checkpoint (no config.kind / config.model)")
    try:
        model = (FaceRaDOGAGA if config["kind"] == "radogaga" else FaceBetaVAE)(FaceConfig(**config["model"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()})
    except (TypeError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: its weights do not fit its face network ({type(exc).__name__})") from None
    return FaceNetwork(model.eval(), int(state["step"]), config["kind"], config)
