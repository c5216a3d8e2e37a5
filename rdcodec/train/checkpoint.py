"""The one checkpoint schema of rdcodec's training runs, written atomically.

A checkpoint is a ``torch.save`` dict::

    schema          "rdcodec.checkpoint/1"
    task            "codec" | "face-radogaga" | "face-betavae"   (what ``model`` is)
    model           state dict of the trained network
    optimizer       state of the main Adam;  aux_optimizer: the prior's quantile Adam, or None
    step            optimisation steps done;  train_seconds: wall time over all sessions
    torch_rng       torch's CPU generator;  task_state: the task's own (sampler RNG, config)
    history         validation records, in order
    network, objective, config   the settings the run was made with (dicts)

Codec checkpoints written before this schema (no ``schema`` key; the same keys with the
sampler's RNG as ``sampler_rng``) load as ``task = "codec"``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rdcodec import atomic_file

SCHEMA = "rdcodec.checkpoint/1"


class CheckpointError(ValueError):
    """The file is not an rdcodec training checkpoint (one line, says why)."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """``torch.save`` ``state`` (the schema tag added) through a temporary file and a rename."""
    with atomic_file.replacing(path) as tmp:
        torch.save({"schema": SCHEMA, **state}, tmp)


#: notes a tool adds to a checkpoint it rewrote (not training state): the next one replaces them
SURGERY_NOTES = ("transform_weights", "revival", "widening")


def with_weights(state: dict, weights: dict, **notes) -> dict:
    """``state`` with its model weights replaced by ``weights``, so that ``rdcodec train`` in a
    new run directory continues the run as it was (step, optimisers, RNG and sampler states,
    history kept); earlier :data:`SURGERY_NOTES` dropped, ``notes`` (e.g. ``revival=record``) added."""
    out = {key: value for key, value in state.items() if key not in SURGERY_NOTES}
    out.update(model=weights, **notes)
    return out


def trained_under_bf16(state: dict) -> bool:
    """Whether the steps that wrote this checkpoint ran under bf16 autocast, so that the loss saw
    the transforms' weights rounded to bfloat16: what the run recorded (``bf16_autocast``: the
    CPU's answer, :func:`rdcodec.model.precision.usable_bf16`, not the config's request, which a
    CPU without bfloat16 instructions runs in float32), or for checkpoints written before that
    was recorded, the config's ``bf16``."""
    if "bf16_autocast" in state:
        return bool(state["bf16_autocast"])
    return bool((state.get("config") or {}).get("bf16"))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint in the current schema (older codec checkpoints are upgraded in memory)."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: is a directory") from None
    except Exception as exc:  # torch.load raises many types for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a training checkpoint ({type(exc).__name__})") from None
    return checkpoint_from_state(state, path)


def checkpoint_from_state(state, path: str | Path) -> dict:
    """An already loaded ``torch.save`` object as a current-schema checkpoint (``path`` for messages)."""
    if not isinstance(state, dict) or "model" not in state or "step" not in state:
        raise CheckpointError(f"{path}: not a training checkpoint (no model weights and step)")
    schema = state.get("schema")
    if schema is None:  # before the schema: a codec run of rdcodec.training
        state = dict(state, schema=SCHEMA, task="codec")
        if "sampler_rng" in state:
            state["task_state"] = {"sampler_rng": state.pop("sampler_rng")}
    elif schema != SCHEMA:
        raise CheckpointError(f"{path}: checkpoint schema {schema!r} is newer than this rdcodec ({SCHEMA})")
    state.setdefault("history", [])
    state.setdefault("train_seconds", 0.0)
    state.setdefault("task_state", {})
    return state
