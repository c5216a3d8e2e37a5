"""Training loop for :class:`rdcodec.model.network.RDAutoencoder` with the eq. 5 objective.

Data flow of one step::

    crops x ──► g_a ──► z ──► EntropyBottleneck (noise) ──► z + ε, P_ψ(z + ε)
                         └────────────┬─────────────────────────┘
                               g_s([z ; z + ε])  (one batched decoder call)
                                      └──► g(z), g(z + ε) ──► objective (eq. 5) ──► Adam
    quantiles ──► aux (quantile) loss ──► Adam (aux)

A run lives in one directory: ``config.json``, ``checkpoint.pt`` (written atomically every
``checkpoint_every`` steps and at the end), ``log.jsonl`` (train and validation records).
Running again with the same directory resumes from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rdcodec.image_io import list_images, read_rgb_array
from rdcodec.model.network import STRIDE, NetworkConfig, RDAutoencoder
from rdcodec.distortion import distortion
from rdcodec.train.config import TrainConfig
from rdcodec.train.objective import ObjectiveConfig, objective


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
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)


def load_images(dirs: list[str]) -> list[np.ndarray]:
    arrays = []
    for d in dirs:
        for path in list_images(Path(d)):
            arrays.append(read_rgb_array(path))
    return arrays


def _center_crop(im: np.ndarray, size: int) -> np.ndarray:
    h, w = im.shape[:2]
    s_h = min(size, h - h % STRIDE)
    s_w = min(size, w - w % STRIDE)
    y, x = (h - s_h) // 2, (w - s_w) // 2
    return im[y : y + s_h, x : x + s_w]


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
        z_hat = model.dequantize(symbols, medians, step)
        x_hat = model.decode_latent(z_hat).clamp(0, 1)
        x_hat = torch.round(x_hat * 255) / 255
        mse = torch.mean((x - x_hat) ** 2).item()
        totals["bpp"] += model.bin_bits(symbols, medians, step).item() / (x.shape[2] * x.shape[3])
        totals["psnr"] += 10 * math.log10(1.0 / max(mse, 1e-12))
        totals["ssim"] += 1.0 - distortion("ssim", x, x_hat).item()
        totals["distortion"] += distortion(metric, x, x_hat).item()
    model.train()
    return {k: v / len(images) for k, v in totals.items()}


def draw_step(rng: np.random.Generator, step_range: list[float] | None) -> float:
    """Δ for one batch: log-uniform on ``step_range``, or 1."""
    if step_range is None:
        return 1.0
    lo, hi = math.log(step_range[0]), math.log(step_range[1])
    return float(math.exp(rng.uniform(lo, hi)))


def save_checkpoint(obj, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename: a kill mid-save keeps the last checkpoint."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def optimization_step(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    main_params: list[torch.nn.Parameter],
    x: torch.Tensor,
    objective_config: ObjectiveConfig,
    delta: float = 1.0,
    bf16: bool = False,
    clip_grad: float = 0.0,
):
    """One Adam step on eq. 5 (or the Ballé loss) for a batch ``x`` at quantization step Δ.

    At Δ ≠ 1 the noise and the bins have width Δ and λ1, λ2 are scaled by 1/Δ²: with
    σ² = Δ²/12 the isometry constant 1/(2·λ2·σ²) of eq. 10 is then the same at every Δ, so one
    network serves all steps. The loss is multiplied by Δ before the backward pass, which keeps
    each Δ's optimum and evens out the loss magnitudes across Δ.
    Returns the :class:`~rdcodec.train.objective.LossTerms` (unweighted).
    """
    optimizer.zero_grad(set_to_none=True)
    out = net(x, bf16=bf16, step=delta)
    terms = objective(objective_config, x, out.likelihoods, out.x_clean, out.x_noisy, lambda_scale=1.0 / delta**2)
    if not torch.isfinite(terms.total):
        raise FloatingPointError("non-finite loss")
    (terms.total * delta).backward()
    if clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(main_params, clip_grad)
    optimizer.step()
    return terms


def learning_rate(config: TrainConfig, step: int) -> float:
    """Constant ``lr``, or a cosine decay to ``lr_final`` between ``lr_decay_start`` and ``steps``."""
    if config.lr_final is None or step <= config.lr_decay_start:
        return config.lr
    t = min(1.0, (step - config.lr_decay_start) / max(1, config.steps - config.lr_decay_start))
    return config.lr_final + (config.lr - config.lr_final) * 0.5 * (1 + math.cos(math.pi * t))


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


def train(config: TrainConfig, run_dir: Path, progress: bool = True) -> Path:
    """Train (or resume) in ``run_dir``; returns the checkpoint path.

    Under ``torchrun --nproc_per_node K`` each process takes ``batch_size / K`` crops per step
    and the model is wrapped in DistributedDataParallel (gloo on CPU, NCCL on CUDA); rank 0
    validates, logs and checkpoints. Under DDP the prior's tail quantiles are placed by
    compressai's bisection (before validation and checkpoints) instead of the aux loss.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    rank, world, device = _distributed_setup(torch.device(config.device))
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    is_main = rank == 0
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    net_cfg = config.network
    obj_cfg = config.objective
    model = RDAutoencoder(net_cfg).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    main_params, aux_params = model.parameter_groups()
    prior_ids = {id(p) for p in model.entropy_bottleneck.parameters()}
    optimizer = torch.optim.Adam(
        [
            {"params": [p for p in main_params if id(p) not in prior_ids]},
            {"params": [p for p in main_params if id(p) in prior_ids]},
        ],
        lr=config.lr,
    )
    aux_optimizer = torch.optim.Adam(aux_params, lr=config.aux_lr)

    ckpt_path = run_dir / "checkpoint.pt"
    step = 0
    train_seconds = 0.0  # training wall time over all sessions of this run
    sampler_state = None
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        try:
            optimizer.load_state_dict(state["optimizer"])
        except ValueError:  # parameter groups changed: keep the weights, restart the moments
            print("optimizer state does not match the parameter groups; starting fresh moments", file=sys.stderr)
        aux_optimizer.load_state_dict(state["aux_optimizer"])
        step = state["step"]
        train_seconds = float(state.get("train_seconds", 0.0))
        sampler_state = state.get("sampler_rng")
        torch.set_rng_state(state["torch_rng"].cpu())
        if is_main:
            print(f"resuming {run_dir} at step {step}", file=sys.stderr)
    elif config.init_from:
        init = torch.load(config.init_from, map_location=device, weights_only=False)
        model.load_state_dict(init.get("model") or init["state_dict"])
        if is_main:
            print(f"initialised from {config.init_from}", file=sys.stderr)
    def set_lr(at_step: int) -> None:  # the configured schedule wins over the saved rates
        for group, scale in zip(optimizer.param_groups, (1.0, config.prior_lr_scale)):
            group["lr"] = learning_rate(config, at_step) * scale

    set_lr(step)
    if is_main:
        (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2))

    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model.entropy_bottleneck.quantiles.requires_grad_(False)
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        torch.manual_seed(config.seed * 1000 + rank + step)  # distinct noise per process

    t0 = time.time()
    scale_range = tuple(config.scale_range) if config.scale_range else None
    sampler = CropSampler(load_images(config.train_dirs), config.crop, config.seed + 7919 * rank, scale_range)
    if sampler_state is not None and world == 1:
        sampler.rng.bit_generator.state = sampler_state
    elif step:
        sampler.rng = np.random.default_rng([config.seed, rank, step])
    val_images = []
    if config.val_dir and is_main:
        for im in load_images([config.val_dir])[: config.val_images]:
            crop = _center_crop(im, config.val_crop)
            val_images.append(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float().div(255).to(device))
    if is_main:
        print(f"loaded {len(sampler.images)} training images in {time.time() - t0:.1f}s", file=sys.stderr)

    log = (run_dir / "log.jsonl").open("a") if is_main else None
    if log:
        log.write(json.dumps({"step": step, "kind": "start", "world_size": world, "config": dataclasses.asdict(config)}) + "\n")
    bar = None
    if progress and is_main:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 60)
    running = {"loss": 0.0, "bpp": 0.0, "distortion": 0.0, "scaling": 0.0}
    n_running = 0
    t_last = t_step = time.time()
    aux = torch.zeros(())
    net.train()
    while step < config.steps:
        x = sampler.batch(config.batch_size // world).to(device)
        if config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        delta = draw_step(sampler.rng, config.step_range)
        set_lr(step)
        try:
            terms = optimization_step(net, optimizer, main_params, x, obj_cfg, delta, config.bf16, config.clip_grad)
        except FloatingPointError as exc:
            raise FloatingPointError(f"{exc} at step {step}") from None
        if world == 1:
            aux_optimizer.zero_grad(set_to_none=True)
            aux = model.aux_loss()
            aux.backward()
            aux_optimizer.step()
        step += 1
        now = time.time()
        train_seconds += now - t_step
        t_step = now

        running["loss"] += terms.total.item()
        running["bpp"] += terms.bpp.item()
        running["distortion"] += terms.distortion.item()
        running["scaling"] += terms.scaling.item()
        n_running += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(bpp=f"{terms.bpp.item():.3f}", D=f"{terms.distortion.item():.4f}", refresh=False)
        if log and step % config.log_every == 0:
            rec = {"step": step, "kind": "train", "lr": optimizer.param_groups[0]["lr"], "aux": aux.item(),
                   "sec_per_step": (time.time() - t_last) / n_running, "train_seconds": train_seconds}
            rec.update({k: v / n_running for k, v in running.items()})
            log.write(json.dumps(rec) + "\n")
            log.flush()
            running = dict.fromkeys(running, 0.0)
            n_running = 0
            t_last = time.time()
        at_checkpoint = step % config.checkpoint_every == 0 or step == config.steps
        at_validation = bool(val_images) and (step % config.val_every == 0 or step == config.steps)
        if world > 1 and (at_checkpoint or at_validation):
            with torch.no_grad():
                model.entropy_bottleneck._update_quantiles()
        if log and at_validation:
            for val_step in config.val_steps or [1.0]:
                rec = {"step": step, "kind": "val", "quant_step": val_step, **validate(model, val_images, obj_cfg.metric, val_step)}
                log.write(json.dumps(rec) + "\n")
                if bar is not None:
                    bar.write(f"step {step} Δ {val_step:g} val bpp {rec['bpp']:.3f} PSNR {rec['psnr']:.2f} SSIM {rec['ssim']:.4f}")
            log.flush()
        if is_main and at_checkpoint:
            save_checkpoint(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "aux_optimizer": aux_optimizer.state_dict(),
                    "step": step,
                    "train_seconds": train_seconds,
                    "network": net_cfg.to_dict(),
                    "objective": obj_cfg.to_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "sampler_rng": sampler.rng.bit_generator.state,
                },
                ckpt_path,
            )
    if bar is not None:
        bar.close()
    if log:
        log.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return ckpt_path
