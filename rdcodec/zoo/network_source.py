"""A codec network for analysis, from a registered model or from a training checkpoint.

The analysis tools (``rdcodec analyze``, ``tools/channel_rates.py``) take either; both need the
torch network, the objective it was trained with (eq. 10's D′ prediction needs eq. 5's λ2) and a
note of where it came from for their reports::

    model id ──► Registry ─► load_model ─► Model.network, entry.objective ─┐
                                                                             ├─► NetworkSource
    checkpoint ─► load_trained_network (weights as trained) ─► state ──────┘
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from rdcodec.model.network import RDAutoencoder
    from rdcodec.zoo.registry import Registry


class NetworkSource(NamedTuple):
    network: "RDAutoencoder"  # in eval mode
    objective: dict  # the training objective's fields ({} when the model was exported without it)
    provenance: dict  # {"model": id, "digest": …} or {"checkpoint": path, "step": n}


def load_network_source(
    model: str | None = None, checkpoint: str | Path | None = None, registry: "Registry | None" = None
) -> NetworkSource:
    """The network of ``checkpoint`` if given (a bf16 run's transforms rounded to bfloat16, as
    :func:`rdcodec.zoo.export.load_trained_network` loads them), else of the registered
    ``model`` (the default model if ``None``) in ``registry``."""
    if checkpoint is not None:
        from rdcodec.zoo.export import load_trained_network

        network, state = load_trained_network(checkpoint)
        objective = dict(state.get("objective") or {})
        return NetworkSource(network.eval(), objective, {"checkpoint": str(checkpoint), "step": int(state["step"])})
    from rdcodec.codec import load_model

    loaded = load_model(model, registry)
    objective = loaded.entry.objective.to_dict() if loaded.entry.objective is not None else {}
    return NetworkSource(loaded.network.eval(), objective, {"model": loaded.entry.id, "digest": loaded.entry.digest})


def network_source_of(name: str, registry: "Registry | None" = None) -> NetworkSource:
    """The network ``name`` names on a tool's command line: a training checkpoint if it is a
    file, else a registered model id (:func:`load_network_source`)."""
    if Path(name).is_file():
        return load_network_source(checkpoint=name)
    return load_network_source(name, registry=registry)
