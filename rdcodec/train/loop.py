"""The one training loop: resume, learning-rate schedule, logging, validation, atomic checkpoints.

Everything model-specific lives in a :class:`TrainingTask` (the codec's eq. 5 / Ballé /
decoder phases in :mod:`rdcodec.train.codec_task`, the §5.3 face networks in
:mod:`rdcodec.train.face_task`); the loop owns the run::

    run_dir/checkpoint.pt ──► resume (weights, optimisers, step, RNGs, history)
    for step in [step, steps):
        task.train_step()  ──►  scheduler.step()  ──►  every log_every: a "train" record
                               every val_every: task.validate() ──► "val" records (kept in history)
                               every checkpoint_every and at the end: checkpoint (atomic)
    run_dir/log.jsonl: one "start" record per launch (with the config), then train/val records
                       (rdcodec.train.run_log: the one writer and the one reader)
    run_dir/.lock: held while the run trains (one process per run directory)

The learning rate is constant, or follows ``torch.optim.lr_scheduler``'s cosine annealing
from each group's base rate to ``lr_final`` between ``lr_decay_start`` and ``steps``. The
schedule is a function of the step and of the current settings only: a resumed run with a new
config (a new phase in the same run directory) follows the new schedule, not the saved rates.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Protocol

import torch

from rdcodec.train import run_lock
from rdcodec.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rdcodec.train.run_log import RunLogWriter, log_path


class TrainingTask(Protocol):
    """What the loop needs from the thing being trained."""

    name: str  # the checkpoint's "task"
    model: torch.nn.Module  # checkpointed as "model"
    optimizer: torch.optim.Optimizer
    aux_optimizer: torch.optim.Optimizer | None
    base_lrs: list[float]  # the main optimiser's rate per parameter group, before the schedule
    is_main: bool  # the process that logs and checkpoints (rank 0 under DDP)

    def load_state(self, task_state: dict, step: int) -> None:
        """Restore what :meth:`state` saved (``{}`` for a fresh run starting at ``step``)."""

    def state(self) -> dict:
        """The task's own resumable state (e.g. its sampler's RNG)."""

    def settings(self) -> dict:
        """``network``, ``objective`` and ``config`` dicts stored in the checkpoint."""

    def train_step(self) -> dict[str, float]:
        """One optimisation step on a fresh batch; returns the scalars to log."""

    def validate(self) -> list[dict]:
        """Validation records for the current weights (empty: no validation)."""

    def sync(self) -> None:
        """Called before validation and checkpoints (e.g. to settle a prior under DDP)."""


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    steps: int
    lr_final: float | None = None  # cosine decay to this rate; None = constant rates
    lr_decay_start: int = 0
    checkpoint_every: int = 100
    log_every: int = 50
    val_every: int = 0  # 0 = no validation
    progress: bool = True


def cosine_schedule(optimizer: torch.optim.Optimizer, base_lrs: list[float], settings: LoopSettings, step: int):
    """Set each group's rate from ``base_lrs`` and return the scheduler advanced to ``step``.

    Constant rates (None) without ``lr_final``; otherwise constant up to ``lr_decay_start``, then
    ``CosineAnnealingLR`` down to ``lr_final`` at ``steps``.
    """
    for group, lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = group["initial_lr"] = lr
    if settings.lr_final is None:
        return None
    from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, SequentialLR

    span = max(1, settings.steps - settings.lr_decay_start)
    if settings.lr_decay_start <= 0:
        scheduler = CosineAnnealingLR(optimizer, T_max=span, eta_min=settings.lr_final)
    else:
        scheduler = SequentialLR(
            optimizer,
            [
                ConstantLR(optimizer, factor=1.0, total_iters=settings.lr_decay_start),
                CosineAnnealingLR(optimizer, T_max=span, eta_min=settings.lr_final),
            ],
            milestones=[settings.lr_decay_start],
        )
    with warnings.catch_warnings():  # fast-forwarding a resumed run: no optimiser step is due here
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before `optimizer.step\(\)`")
        for _ in range(min(step, settings.steps)):
            scheduler.step()
    return scheduler


def run(task: TrainingTask, run_dir: Path, settings: LoopSettings, start_record: dict | None = None) -> Path:
    """Train ``task`` in ``run_dir`` up to ``settings.steps`` (resuming); returns the checkpoint path.

    The process that writes (``task.is_main``) holds the run directory's lock throughout
    (:mod:`rdcodec.train.run_lock`): a second process on the same directory is refused with
    :class:`~rdcodec.train.run_lock.RunDirectoryInUse` before it loads anything.
    """
    if not task.is_main:
        return _run(task, Path(run_dir), settings, start_record)
    with run_lock.holding(Path(run_dir)):
        return _run(task, Path(run_dir), settings, start_record)


def _run(task: TrainingTask, run_dir: Path, settings: LoopSettings, start_record: dict | None) -> Path:
    ckpt_path = run_dir / "checkpoint.pt"
    step, train_seconds, history, task_state = 0, 0.0, [], {}
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if state["task"] != task.name:
            raise CheckpointError(f"{ckpt_path}: a {state['task']} checkpoint, not {task.name}")
        task.model.load_state_dict(state["model"])
        try:
            if state.get("optimizer") is None:  # a restored weights snapshot
                raise KeyError("optimizer")
            task.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError):  # parameter groups changed (e.g. a new phase): keep the weights, fresh moments
            if task.is_main:
                print("no matching optimizer state in the checkpoint; starting fresh moments", file=sys.stderr)
        if task.aux_optimizer is not None and state.get("aux_optimizer"):
            task.aux_optimizer.load_state_dict(state["aux_optimizer"])
        step, train_seconds, history = int(state["step"]), float(state["train_seconds"]), list(state["history"])
        torch.set_rng_state(state["torch_rng"].cpu())
        task_state = state["task_state"]
        if task.is_main:
            print(f"resuming {run_dir} at step {step}", file=sys.stderr)
    task.load_state(task_state, step)
    scheduler = cosine_schedule(task.optimizer, task.base_lrs, settings, step)

    log = None
    if task.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        log = RunLogWriter(log_path(run_dir))
        if log.cut_bytes:
            print(f"{log.path}: cut a torn last line ({log.cut_bytes} bytes) left by a killed run", file=sys.stderr)
        log.append({"step": step, "kind": "start", **(start_record or {})})
    bar = None
    if settings.progress and task.is_main and step < settings.steps:
        from tqdm import tqdm

        bar = tqdm(total=settings.steps, initial=step, file=sys.stderr, mininterval=1 if sys.stderr.isatty() else 60)

    running: dict[str, float] = {}
    n_running = 0
    t_last = t_step = time.time()
    task.model.train()
    try:
        while step < settings.steps:
            scalars = task.train_step()
            if scheduler is not None:
                scheduler.step()
            step += 1
            now = time.time()
            train_seconds += now - t_step
            t_step = now
            for key, value in scalars.items():
                running[key] = running.get(key, 0.0) + value
            n_running += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(scalars.items())[:3]}, refresh=False)
            if log and step % settings.log_every == 0:
                rec = {
                    "step": step,
                    "kind": "train",
                    "lr": task.optimizer.param_groups[0]["lr"],
                    "sec_per_step": (time.time() - t_last) / n_running,
                    "train_seconds": train_seconds,
                }
                rec.update({k: v / n_running for k, v in running.items()})
                log.append(rec)
                running, n_running, t_last = {}, 0, time.time()
            at_checkpoint = step % settings.checkpoint_every == 0 or step == settings.steps
            at_validation = settings.val_every > 0 and (step % settings.val_every == 0 or step == settings.steps)
            if at_checkpoint or at_validation:
                task.sync()
            if at_validation and task.is_main:
                for rec in task.validate():
                    rec = {"step": step, "kind": "val", **rec}
                    history.append(rec)
                    if log:
                        log.append(rec)
                    if bar is not None:
                        bar.write(
                            " ".join(
                                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items() if k != "kind"
                            )
                        )
                    elif not settings.progress:
                        print(json.dumps(rec), file=sys.stderr)
                task.model.train()
            if at_checkpoint and task.is_main:
                save_checkpoint(
                    {
                        "task": task.name,
                        "model": task.model.state_dict(),
                        "optimizer": task.optimizer.state_dict(),
                        "aux_optimizer": task.aux_optimizer.state_dict() if task.aux_optimizer is not None else None,
                        "step": step,
                        "train_seconds": train_seconds,
                        "torch_rng": torch.get_rng_state(),
                        "task_state": task.state(),
                        "history": history,
                        **task.settings(),
                    },
                    ckpt_path,
                )
    finally:
        if bar is not None:
            bar.close()
        if log:
            log.close()
    return ckpt_path
