"""Training the codec's network (:class:`rdcodec.model.network.RDAutoencoder`): the task for the loop.

Phase ``eq5`` — one step (paper eq. 5, or the Ballé loss with ``objective.kind = "balle"``)::

    crops x ──► g_a ──► z ──► z + Δ·ε, P_ψ(bin of width Δ)  (Δ = 1, or drawn per batch: variable rate)
                         └────────────┬─────────────────────────┘
                               g_s([z ; z + Δ·ε])  (one batched decoder call; Ballé: g_s(z + Δ·ε) alone)
                                      └──► g(z), g(z + Δ·ε) ──► objective (λ/Δ²) ──► Adam
    quantiles ──► aux (quantile) loss ──► Adam (aux)

Phase ``decoder`` — an optional last stage outside eq. 5: the encoder and the prior are frozen
(so symbols, tables and rate stay as they were) and g_s alone is trained on what the codec
really transmits, L = D(x, g_s(ẑ)) with ẑ = Q(g_a(x)) at step Δ = 1 (or ``val_steps[0]``).

Under ``torchrun --nproc_per_node K`` each process takes ``batch_size / K`` crops per step and
the model is wrapped in DistributedDataParallel (gloo on CPU, NCCL on CUDA); rank 0 validates,
logs and checkpoints; the prior's tail quantiles are then placed by bisection before validation
and checkpoints instead of by the aux loss.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rdcodec.distortion import distortion
from rdcodec.image_tensor import to_tensor
from rdcodec.model.network import RDAutoencoder
from rdcodec.model.precision import bf16_autocast, round_to_autocast_weights, usable_bf16
from rdcodec.train.checkpoint import checkpoint_from_state
from rdcodec.train.config import TrainConfig
from rdcodec.train.data import CropSampler, center_crop, load_images
from rdcodec.train.heap import retain_freed_memory
from rdcodec.train.loop import LoopSettings, run
from rdcodec.train.objective import LossTerms, ObjectiveConfig, objective


def draw_step(rng: np.random.Generator, step_range: list[float] | None) -> float:
    """Δ for one batch: log-uniform on ``step_range``, or 1."""
    if step_range is None:
        return 1.0
    lo, hi = math.log(step_range[0]), math.log(step_range[1])
    return float(math.exp(rng.uniform(lo, hi)))


def decoder_step_size(rng: np.random.Generator, config: TrainConfig) -> float:
    """Δ of one decoder-phase batch: log-uniform on ``step_range`` when it is set, so a decoder
    shared by a whole ladder of Δ learns every Δ it will decode; else the first validation Δ
    (1 when there is none), the one operating point of a fixed-Δ model."""
    if config.step_range is not None:
        return draw_step(rng, config.step_range)
    return float((config.val_steps or [1.0])[0])


def loss_terms(
    net: torch.nn.Module, x: torch.Tensor, objective_config: ObjectiveConfig, delta: float = 1.0, bf16: bool = False
) -> LossTerms:
    """The training pass for a batch ``x`` at quantization step Δ: the network's forward
    (z, z + Δ·ε, P_ψ, g(z), g(z + Δ·ε)) and the terms of eq. 5 (or the Ballé loss), with λ1, λ2
    scaled by 1/Δ². This is the function ``compile = true`` hands to ``torch.compile``."""
    out = net(x, bf16=bf16, step=delta, decode_clean=objective_config.kind == "radogaga")
    return objective(objective_config, x, out.likelihoods, out.x_clean, out.x_noisy, lambda_scale=1.0 / delta**2)


def optimization_step(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    main_params: list[torch.nn.Parameter],
    x: torch.Tensor,
    objective_config: ObjectiveConfig,
    delta: float = 1.0,
    bf16: bool = False,
    clip_grad: float = 0.0,
    loss_fn: Callable[..., LossTerms] = loss_terms,
):
    """One Adam step on eq. 5 (or the Ballé loss) for a batch ``x`` at quantization step Δ.

    At Δ ≠ 1 the noise and the bins have width Δ and λ1, λ2 are scaled by 1/Δ²: with
    σ² = Δ²/12 the isometry constant 1/(2·λ2·σ²) of eq. 10 is then the same at every Δ, so one
    network serves all steps. The loss is multiplied by Δ before the backward pass, which keeps
    each Δ's optimum and evens out the loss magnitudes across Δ.
    ``loss_fn`` is :func:`loss_terms` or its compiled form. Returns the
    :class:`~rdcodec.train.objective.LossTerms` (unweighted).
    """
    optimizer.zero_grad(set_to_none=True)
    terms = loss_fn(net, x, objective_config, delta, bf16)
    if not torch.isfinite(terms.total):
        raise FloatingPointError("non-finite loss")
    (terms.total * delta).backward()
    if clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(main_params, clip_grad)
    optimizer.step()
    return terms


class CompiledOrEager:
    """``torch.compile(fn)``, or ``fn`` itself where compiling fails on this machine.

    Inductor compiles at the first call and needs a working C++ toolchain; a machine without
    one must not stop a campaign that resumes there. So an exception from the first call
    (the compile) gives one warning and every later call runs ``fn`` eagerly; the weights and
    checkpoints are the same either way. Once a call has succeeded, exceptions propagate.
    """

    def __init__(self, fn: Callable):
        self.fn, self.compiled, self.proven = fn, torch.compile(fn), False

    def __call__(self, *args, **kwargs):
        if self.compiled is None:
            return self.fn(*args, **kwargs)
        if self.proven:
            return self.compiled(*args, **kwargs)
        try:
            out = self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any compile failure means: run eagerly
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            warnings.warn(f"torch.compile failed here ({first_line}); training eagerly instead", RuntimeWarning, stacklevel=2)
            self.compiled = None
            return self.fn(*args, **kwargs)
        self.proven = True
        return out


def to_eight_bits(x_hat: torch.Tensor) -> torch.Tensor:
    """A decoder output clamped to [0, 1] and rounded to the 256 levels a decoded file holds."""
    return torch.round(x_hat.clamp(0, 1) * 255) / 255


def unit_range_psnr(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """PSNR in dB of ``x_hat`` against ``x``, both in [0, 1] (peak 1; capped at 120 dB)."""
    return 10 * math.log10(1.0 / max(torch.mean((x - x_hat) ** 2).item(), 1e-12))


@torch.no_grad()
def validate(model: RDAutoencoder, images: list[torch.Tensor], metric: str, step: float = 1.0) -> dict:
    """Quantized (not noisy) operating point at step Δ: estimated bpp, PSNR and SSIM of g(ẑ).

    ẑ = Δ·round((z − m)/Δ) + m, as the codec quantizes; the rate is Σ −log₂ P_ψ of each
    symbol's bin (:meth:`RDAutoencoder.bin_bits`, the probabilities the tables freeze).
    """
    model.eval()
    medians = model.medians()
    totals = {"bpp": 0.0, "psnr": 0.0, "ssim": 0.0, "distortion": 0.0}
    for x in images:
        z = model.encode_latent(x)
        symbols = model.quantize(z, medians, step)
        x_hat = to_eight_bits(model.decode_latent(model.dequantize(symbols, medians, step)))
        totals["bpp"] += model.bin_bits(symbols, medians, step).item() / (x.shape[2] * x.shape[3])
        totals["psnr"] += unit_range_psnr(x, x_hat)
        totals["ssim"] += 1.0 - distortion("ssim", x, x_hat).item()
        totals["distortion"] += distortion(metric, x, x_hat).item()
    return {k: v / len(images) for k, v in totals.items()}


def _distributed_setup(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device) under torchrun; (0, 1, device) otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def load_weights(path: str | Path, device="cpu") -> dict:
    """A state dict from a training checkpoint or an exported model's weights file."""
    state = torch.load(path, map_location=device, weights_only=False)
    if isinstance(state, dict) and "state_dict" in state:  # an exported weights file (rdcodec.zoo.export)
        return state["state_dict"]
    return checkpoint_from_state(state, path)["model"]


def eq5_parameter_groups(model: RDAutoencoder) -> tuple[list[torch.nn.Parameter], ...]:
    """(transforms, prior density, prior quantiles): the two parameter groups of the eq5 phase's
    Adam (the prior's at ``prior_lr_scale`` × lr) and the auxiliary quantile Adam's, in the order
    their optimiser states index them."""
    main, quantiles = model.parameter_groups()
    prior_ids = {id(p) for p in model.entropy_bottleneck.parameters()}
    return [p for p in main if id(p) not in prior_ids], [p for p in main if id(p) in prior_ids], quantiles


class CodecTask:
    """The :class:`~rdcodec.train.loop.TrainingTask` of the codec network (phases ``eq5``, ``decoder``)."""

    name = "codec"

    def __init__(self, config: TrainConfig, rank: int = 0, world: int = 1, device: torch.device = torch.device("cpu")):
        self.config, self.rank, self.world, self.device = config, rank, world, device
        # bf16 autocast only where the hardware has it (rdcodec.model.precision)
        self.bf16 = usable_bf16(config.bf16, device.type)
        self.is_main = rank == 0
        torch.manual_seed(config.seed)
        self.model = RDAutoencoder(config.network).to(device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.main_params, aux_params = self.model.parameter_groups()
        if config.phase == "decoder":
            for p in self.model.parameters():
                p.requires_grad_(False)
            for p in self.model.g_s.parameters():
                p.requires_grad_(True)
            self.main_params = list(self.model.g_s.parameters())
            self.optimizer = torch.optim.Adam([{"params": self.main_params}], lr=config.lr)
            self.base_lrs = [config.lr]
            self.aux_optimizer = None
        else:
            transforms, prior, aux_params = eq5_parameter_groups(self.model)
            self.optimizer = torch.optim.Adam([{"params": transforms}, {"params": prior}], lr=config.lr)
            self.base_lrs = [config.lr, config.lr * config.prior_lr_scale]
            self.aux_optimizer = torch.optim.Adam(aux_params, lr=config.aux_lr)
        self.net: torch.nn.Module = self.model
        self.loss_fn: Callable[..., LossTerms] = CompiledOrEager(loss_terms) if config.compile else loss_terms
        self.sampler: CropSampler | None = None
        self.val_images: list[torch.Tensor] = []

    # --- TrainingTask ----------------------------------------------------------------------
    def load_state(self, task_state: dict, step: int) -> None:
        config = self.config
        if step == 0 and config.init_from:
            self.model.load_state_dict(load_weights(config.init_from, self.device))
            if self.is_main:
                print(f"initialised from {config.init_from}", file=sys.stderr)
        if self.config.phase == "decoder":
            self.model.settle_quantiles()
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.model.entropy_bottleneck.quantiles.requires_grad_(False)
            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            torch.manual_seed(config.seed * 1000 + self.rank + step)  # distinct noise per process
        t0 = time.time()
        scale_range = tuple(config.scale_range) if config.scale_range else None
        self.sampler = CropSampler(load_images(config.train_dirs), config.crop, config.seed + 7919 * self.rank, scale_range)
        if task_state.get("sampler_rng") is not None and self.world == 1:
            self.sampler.rng.bit_generator.state = task_state["sampler_rng"]
        elif step:
            self.sampler.rng = np.random.default_rng([config.seed, self.rank, step])
        if config.val_dir and self.is_main:
            for im in load_images([config.val_dir])[: config.val_images]:
                self.val_images.append(to_tensor(center_crop(im, config.val_crop)).to(self.device))
        if self.is_main:
            print(f"loaded {len(self.sampler.images)} training images in {time.time() - t0:.1f}s", file=sys.stderr)

    def state(self) -> dict:
        return {"sampler_rng": self.sampler.rng.bit_generator.state if self.sampler is not None else None}

    def settings(self) -> dict:
        return {
            "network": self.config.network.to_dict(),
            "objective": self.config.objective.to_dict(),
            "config": self.config.to_dict(),
            "bf16_autocast": self.bf16,  # what these steps ran: config.bf16 where the CPU has bfloat16 instructions
        }

    def train_step(self) -> dict[str, float]:
        config = self.config
        x = self.sampler.batch(config.batch_size // self.world).to(self.device)
        if config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if config.phase == "decoder":
            delta = decoder_step_size(self.sampler.rng, config)
            return {"distortion": self._decoder_step(x, delta)}
        delta = draw_step(self.sampler.rng, config.step_range)
        terms = optimization_step(
            self.net, self.optimizer, self.main_params, x, config.objective, delta, self.bf16, config.clip_grad, self.loss_fn
        )
        scalars = {"loss": terms.total.item(), "bpp": terms.bpp.item(), "distortion": terms.distortion.item()}
        if terms.scaling is not None:
            scalars["scaling"] = terms.scaling.item()
        if self.world == 1:
            self.aux_optimizer.zero_grad(set_to_none=True)
            aux = self.model.aux_loss()
            aux.backward()
            self.aux_optimizer.step()
            scalars["aux"] = aux.item()
        return scalars

    def _decoder_step(self, x: torch.Tensor, step: float) -> float:
        config = self.config
        medians = self.model.medians()
        autocast = bf16_autocast(x, self.bf16)
        with torch.no_grad(), autocast:
            z = self.model.encode_latent(x)
        z_hat = self.model.dequantize(self.model.quantize(z.float(), medians, step), medians, step)
        with autocast:
            x_hat = self.model.decode_latent(z_hat)
        d = distortion(config.objective.metric, x, x_hat.float())
        # eq. 5's distortion term h(D) with the run's h: log d weighs every Δ of step_range by
        # its relative, not its absolute, distortion
        loss = torch.log(d.clamp_min(1e-12)) if config.objective.h == "log" else d
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.main_params, config.clip_grad)
        self.optimizer.step()
        return d.item()

    def validate(self) -> list[dict]:
        """The validation operating points of the network as trained: under bf16 autocast, with
        the transforms' weights rounded to bfloat16, the values the loss saw
        (:func:`rdcodec.model.precision.round_to_autocast_weights`); records say which."""
        if not self.val_images:
            return []
        model, weights = self.model, "float32"
        if self.bf16:
            model, weights = copy.deepcopy(self.model), "bfloat16"
            round_to_autocast_weights(model)  # the convolutions and GDNs of g_a and g_s
        return [
            {"quant_step": s, "weights": weights, **validate(model, self.val_images, self.config.objective.metric, s)}
            for s in self.config.val_steps or [1.0]
        ]

    def sync(self) -> None:
        if self.world > 1:
            self.model.settle_quantiles()


def train(config: TrainConfig, run_dir: Path, progress: bool = True) -> Path:
    """Train (or resume) the codec network in ``run_dir``; returns the checkpoint path."""
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.retain_freed_memory:
        retain_freed_memory()
    rank, world, device = _distributed_setup(torch.device(config.device))
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    task = CodecTask(config, rank, world, device)
    settings = LoopSettings(
        steps=config.steps,
        lr_final=config.lr_final,
        lr_decay_start=config.lr_decay_start,
        checkpoint_every=config.checkpoint_every,
        log_every=config.log_every,
        val_every=config.val_every if config.val_dir else 0,
        progress=progress,
    )
    try:
        return run(task, Path(run_dir), settings, {"world_size": world, "config": dataclasses.asdict(config)})
    finally:
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
