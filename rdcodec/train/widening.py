"""Carrying a codec training checkpoint over to a widened network, Adam moments included.

:meth:`RDAutoencoder.widened <rdcodec.model.network.RDAutoencoder.widened>` adds hidden (N) or
latent (M) channels without changing what the network computes. A run started from the wide
weights alone (``init_from``) begins with a fresh Adam, and at the campaign's learning rate that
start shook the network off its curve (docs/rd/campaign.md, pilot 8: the validation BD-rate 6 %
worse within 500 steps). :func:`widened_checkpoint` instead writes the source checkpoint itself
with the wide weights, each optimiser moment padded with zeros to its parameter's new shape, and
the step, sampler state and history kept, so the run goes on where it was::

    checkpoint (N, M) ─► network.widened(N', M') ─► new latent channels revived
                         (rdcodec.train.revival: small encoder filters, fitted priors)
        ─► widened_checkpoint ─► NEW_RUN/checkpoint.pt
        ─► rdcodec train … --run-dir NEW_RUN --set network.N=N' --set network.M=M'

The old weights lie in the leading slice of every dimension of the new ones, so their moments go
there too. The new entries start at 0 (as a revived channel's nearly do); at the run's large step
count Adam's bias correction is 1, so their updates are about 3 × lr at the first step and up to
about 6 × lr some 10–20 steps in, settling to the usual size over about 1/(1 − β₂) = 1000 steps.

What the wide network computes: g(z) and the old channels' rate are unchanged (the quantiles of
every channel are re-settled by bisection on loading, as for any export); new latent channels add
their own rate from the first step (their fitted priors price them at about 1.6 bits a latent in
pilot 10, docs/rd/campaign.md), which training then spends or closes.
"""

from __future__ import annotations

import torch

from rdcodec.train.checkpoint import with_weights
from rdcodec.train.codec_task import eq5_parameter_groups


def padded(value: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Zeros of ``shape`` with ``value`` in the leading slice of every dimension."""
    if value.dim() != len(shape) or any(a > b for a, b in zip(value.shape, shape)):
        raise ValueError(f"cannot pad a {tuple(value.shape)} tensor to {tuple(shape)}")
    out = torch.zeros(shape, dtype=value.dtype, device=value.device)
    out[tuple(slice(0, n) for n in value.shape)] = value
    return out


def widened_optimizer_state(state: dict, old_params: list[torch.Tensor], new_params: list[torch.Tensor]) -> dict:
    """An optimiser state dict of ``old_params`` for ``new_params`` (the same parameters in the
    same order, each at least as large in every dimension): every per-parameter tensor the
    size of its parameter (Adam's ``exp_avg``, ``exp_avg_sq``) padded with zeros; scalars (the
    step count) and the groups' settings kept."""
    indices = [i for group in state["param_groups"] for i in group["params"]]
    if not len(indices) == len(old_params) == len(new_params):
        raise ValueError(
            f"the optimiser state holds {len(indices)} parameters; the networks have {len(old_params)} and {len(new_params)}"
        )
    moments = {}
    for position, index in enumerate(indices):
        entry = state["state"].get(index)
        if entry is None:
            continue
        old_shape, new_shape = old_params[position].shape, new_params[position].shape
        entry = dict(entry)
        for key, value in entry.items():
            if torch.is_tensor(value) and value.dim() > 0:  # a moment; a 0-d tensor is the step count
                if value.shape != old_shape:
                    raise ValueError(
                        f"optimiser state {key!r} of parameter {position} is {tuple(value.shape)}, not {tuple(old_shape)}"
                    )
                entry[key] = padded(value, new_shape)
        moments[index] = entry
    return {"state": moments, "param_groups": state["param_groups"]}


def check_carriable(state: dict) -> None:
    """Raise ValueError (saying why) unless ``state`` holds what :func:`widened_checkpoint`
    carries over: the optimisers of an eq5-phase codec run."""
    if state.get("optimizer") is None:
        raise ValueError(
            "the checkpoint holds no optimiser state (a weights-only snapshot?): restore it into a run and train it a few"
            " hundred steps with --set lr=0 --set aux_lr=0 (Adam's moments fill, the weights stay), or widen without --as-checkpoint"
        )
    if (state.get("config") or {}).get("phase", "eq5") != "eq5" or state.get("aux_optimizer") is None:
        raise ValueError("a decoder-phase checkpoint's optimiser holds g_s alone; widen an eq5-phase checkpoint")


def widened_checkpoint(state: dict, network, wide, **notes) -> dict:
    """``state``, an eq5-phase codec checkpoint of ``network``, carried over to ``wide`` (its
    :meth:`~rdcodec.model.network.RDAutoencoder.widened` copy, possibly revived): the weights
    replaced, both optimisers' moments padded (:func:`widened_optimizer_state`), the network
    settings updated, ``notes`` added (e.g. ``widening=record``); step, RNG and sampler states and
    history kept."""
    check_carriable(state)
    old_transforms, old_prior, old_quantiles = eq5_parameter_groups(network)
    new_transforms, new_prior, new_quantiles = eq5_parameter_groups(wide)
    optimizer = widened_optimizer_state(state["optimizer"], old_transforms + old_prior, new_transforms + new_prior)
    aux_optimizer = widened_optimizer_state(state["aux_optimizer"], old_quantiles, new_quantiles)
    settings = wide.config.to_dict()
    config = dict(state.get("config") or {})
    if "network" in config:
        config["network"] = settings
    out = with_weights(state, {k: v.detach().clone() for k, v in wide.state_dict().items()}, **notes)
    out.update(optimizer=optimizer, aux_optimizer=aux_optimizer, network=settings, config=config)
    return out
