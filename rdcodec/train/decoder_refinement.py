"""Optional last stage: fine-tune the decoder on the latents the codec really transmits.

Training (eq. 5) shows the decoder z (clean) and z + ε (noise); the codec decodes
ẑ = round((z − m)/Δ)·Δ + m. This stage freezes the encoder and the prior — so symbols, tables
and rate stay exactly as they were — and trains g_s alone on::

    L = D(x, g_s(ẑ)),   ẑ = Q(g_a(x))   (g_a, P_ψ frozen; medians placed by bisection first)

It is *not* part of RaDOGAGA's objective; a model that went through it says so in its
manifest (training.phases). Input and output are training checkpoints (same format), so
:func:`rdcodec.zoo.export.export_checkpoint` exports the result as usual.

Data flow::

    crops x ─► g_a (frozen) ─► z ─► Q (medians, Δ) ─► ẑ ─► g_s (trained) ─► x̂ ─► D(x, x̂) ─► Adam(g_s)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from rdcodec.model.network import NetworkConfig, RDAutoencoder
from rdcodec.distortion import distortion
from rdcodec.train.loop import CropSampler, load_images, save_checkpoint


def refine_decoder(
    checkpoint: Path,
    output: Path,
    train_dirs: list[str],
    *,
    steps: int,
    metric: str = "ssim",
    lr: float = 3e-5,
    batch_size: int = 16,
    crop: int = 128,
    step_size: float = 1.0,
    bf16: bool = False,
    seed: int = 0,
    log_every: int = 50,
) -> Path:
    """Fine-tune g_s of ``checkpoint`` on quantized latents; write ``output`` (resumable)."""
    source = output if output.exists() else checkpoint
    state = torch.load(source, map_location="cpu", weights_only=False)
    model = RDAutoencoder(NetworkConfig.from_dict(state["network"]))
    model.load_state_dict(state["model"])
    done = state.get("refine_steps", 0) if source == output else 0
    with torch.no_grad():
        model.entropy_bottleneck._update_quantiles()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in model.g_s.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(model.g_s.parameters(), lr=lr)
    if source == output and "refine_optimizer" in state:
        optimizer.load_state_dict(state["refine_optimizer"])
    torch.manual_seed(seed + done)
    sampler = CropSampler(load_images(train_dirs), crop, seed + 104729 + done)
    medians = model.medians()
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    log_path = output.with_suffix(".log.jsonl")
    t0, total = time.time(), 0.0
    model.train()
    while done < steps:
        x = sampler.batch(batch_size)
        with torch.no_grad(), autocast:
            z = model.encode_latent(x)
        z_hat = model.dequantize(model.quantize(z.float(), medians, step_size), medians, step_size)
        with autocast:
            x_hat = model.decode_latent(z_hat)
        loss = distortion(metric, x, x_hat.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done += 1
        total += loss.item()
        if done % log_every == 0 or done == steps:
            with log_path.open("a") as log:
                log.write(json.dumps({"refine_step": done, "distortion": total / log_every, "seconds": time.time() - t0}) + "\n")
            print(f"refine step {done}: D {total / log_every:.4f}", file=sys.stderr)
            total = 0.0
            state["model"] = model.state_dict()
            state["refine_steps"] = done
            state["refine_optimizer"] = optimizer.state_dict()
            state["refinement"] = {"metric": metric, "lr": lr, "batch_size": batch_size, "crop": crop, "step_size": step_size, "bf16": bf16}
            save_checkpoint(state, output)
    return output
