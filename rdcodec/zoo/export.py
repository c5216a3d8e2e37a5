"""Export: freeze a trained network's prior into integer tables and register the model.

This is the one place where the float prior P_ψ becomes integers (TFC's ``compression=True``
re-creation, CompressAI's ``update``)::

    quantiles (aux loss) ──► per-channel range [lower, upper] around the median
    P_ψ bins on that range + tail mass ──► quantize_pmf ──► counts (sum 2**16)  ──► tables.npz
    medians (float32, the quantization centres) ──────────────────────────────────► tables.npz
    state dict + network config ──────────────────────────────────────────────────► weights.pt
    g_a, g_s with GDN's β, γ evaluated (plain_layers) ─► ONNX graphs ─► .analysis.onnx, .synthesis.onnx

Files are named by the model id and the first 8 hex digits of the model digest; a network
exported again at another Δ (a ladder point) reuses the weights file (and its graphs) already
registered. The model digest in every stream covers the weights and tables; the manifest's
SHA-256 list covers the graphs too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io

import numpy as np
import torch

from rdcodec.format.entropy import FrozenTables, freeze
from rdcodec.format.tables import TOTAL, GridTables
from rdcodec.model.network import RDAutoencoder
from rdcodec.settings import ObjectiveConfig
from rdcodec.zoo.registry import ModelEntry, Registry, model_digest


def tail_ranges(network: RDAutoencoder, step: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel symbol range [lower, upper] from the prior's learned tail quantiles."""
    q = network.entropy_bottleneck.quantiles.detach()[:, 0, :]
    medians = q[:, 1]
    lower = -torch.ceil((medians - q[:, 0]) / step).clamp_min(0).to(torch.int64)
    upper = torch.ceil((q[:, 2] - medians) / step).clamp_min(0).to(torch.int64)
    return lower, upper


def freeze_network_tables(network: RDAutoencoder, step: float = 1.0) -> tuple[FrozenTables, np.ndarray]:
    """(integer tables, float32 medians) of a trained network at quantization step Δ."""
    lower, upper = tail_ranges(network, step)
    pmf, tail = network.discrete_pmf(lower, upper, step)
    tables = freeze(pmf.double().numpy(), tail.double().numpy(), lower.numpy(), (upper - lower + 1).numpy())
    return tables, network.medians().float().numpy().astype(np.float32)


def tables_file_bytes(tables: FrozenTables, medians: np.ndarray, step: float = 1.0) -> bytes:
    """The ``.npz`` tables file: the integer tables, the quantization centres and step."""
    buf = io.BytesIO()
    with np.load(io.BytesIO(tables.to_bytes())) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez(buf, medians=medians.astype("<f4"), step=np.array(step, dtype="<f4"), **arrays)
    return buf.getvalue()


def weights_file_bytes(network: RDAutoencoder) -> bytes:
    buf = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    torch.save({"network": network.config.to_dict(), "state_dict": state}, buf)
    return buf.getvalue()


def runtime_graph_files(network: RDAutoencoder, weights_name: str) -> dict[str, bytes]:
    """The ONNX graphs of g_a and g_s (:mod:`rdcodec.runtime.graphs`), named after the weights file."""
    from rdcodec.runtime.graphs import analysis_graph, synthesis_graph

    stem = weights_name.removesuffix(".pt")
    g_a, g_s = network.plain_layers()
    return {f"{stem}.analysis.onnx": analysis_graph(g_a), f"{stem}.synthesis.onnx": synthesis_graph(g_s)}


def _runtime_field(graphs: dict[str, bytes]) -> dict:
    analysis, synthesis = sorted(graphs)  # "….analysis.onnx" < "….synthesis.onnx"
    return {"analysis": analysis, "synthesis": synthesis}


def add_runtime_graphs(registry: Registry, entry: ModelEntry) -> ModelEntry:
    """Write the ONNX graphs of a registered model from its weights and record them in the
    manifest (the model digest, and so every stream, is unchanged)."""
    from rdcodec.codec import load_entry

    network = load_entry(entry, registry, runtime="torch").network
    graphs = runtime_graph_files(network, entry.weights)
    sha = dict(entry.sha256, **{name: hashlib.sha256(blob).hexdigest() for name, blob in graphs.items()})
    updated = dataclasses.replace(entry, sha256=sha, runtime=_runtime_field(graphs))
    weights, tables = registry.read_files(entry)
    registry.add(updated, weights, tables, graphs)
    return updated


def export_model(
    network: RDAutoencoder,
    registry: Registry,
    model_id: str,
    *,
    name: str | None = None,
    objective: dict | None = None,
    description: str = "",
    default: bool = False,
    quality: int | None = None,
    training: dict | None = None,
    kodak: dict | None = None,
    step: float = 1.0,
    weights_stem: str | None = None,
) -> ModelEntry:
    """Freeze tables at quantization step Δ = ``step``, write both files, add the manifest entry.

    The weights file is ``ID-DIGEST8.pt``, or ``WEIGHTS_STEM-SHA8.pt`` when a stem is given (a
    network shared by the points of a ladder); an identical registered file is reused.
    """
    network = network.eval()
    tables, medians = freeze_network_tables(network, step)
    tables_blob = tables_file_bytes(tables, medians, step)
    weights_blob = weights_file_bytes(network)
    digest = model_digest(weights_blob, tables_blob)
    weights_sha = hashlib.sha256(weights_blob).hexdigest()
    fresh_name = f"{weights_stem}-{weights_sha[:8]}.pt" if weights_stem else f"{model_id}-{digest[:8]}.pt"
    weights_name = registry.weights_named(weights_sha) or fresh_name
    tables_name = f"{model_id}-{digest[:8]}.tables.npz"
    graphs = runtime_graph_files(network, weights_name)
    entry = ModelEntry(
        id=model_id,
        name=name or model_id,
        weights=weights_name,
        tables=tables_name,
        sha256={
            weights_name: weights_sha,
            tables_name: hashlib.sha256(tables_blob).hexdigest(),
            **{name: hashlib.sha256(blob).hexdigest() for name, blob in graphs.items()},
        },
        digest=digest,
        network=network.config,
        objective=ObjectiveConfig.from_dict(objective) if objective else None,
        description=description,
        default=default,
        quality=quality,
        training=training or {},
        kodak=kodak,
        runtime=_runtime_field(graphs),
    )
    registry.add(entry, weights_blob, tables_blob, graphs)
    return entry


#: The grid of quantization steps version 2 streams choose from: Δ = 2^(k/8), k = −20 … 20
#: (0.18 … 5.7, 9 % apart), wide enough for every ladder point (Δ 0.5 … 2.6) and the adaptive
#: prior's offsets around it.
GRID_EXPONENTS = range(-20, 21)


def grid_steps() -> np.ndarray:
    return np.array([2.0 ** (k / 8) for k in GRID_EXPONENTS], dtype=np.float32)


def channel_importance_order(tables: FrozenTables, step: float) -> np.ndarray:
    """Channels from the largest to the smallest variance of the frozen prior at ``step``
    (ties by channel index). RaDOGAGA's latent is isometric, so the prior's variance of a
    channel is its share of the distortion (the paper's continuous-PCA property)."""
    variances = np.zeros(tables.channels)
    for c in range(tables.channels):
        p = tables.row(c)[:-1].astype(np.float64) / TOTAL
        values = (tables.lower[c] + np.arange(p.size)) * step
        mean = (p * values).sum() / p.sum()
        variances[c] = (p * (values - mean) ** 2).sum() / p.sum()
    return np.lexsort((np.arange(tables.channels), -variances)).astype(np.int32)


def freeze_grid(network: RDAutoencoder) -> tuple[GridTables, np.ndarray]:
    """(grid tables at every step of :func:`grid_steps`, medians) of a trained network."""
    steps = grid_steps()
    frozen = [freeze_network_tables(network, float(step)) for step in steps]
    medians = frozen[0][1]
    unit = int(np.argmin(np.abs(np.log(steps))))  # Δ = 1
    order = channel_importance_order(frozen[unit][0], float(steps[unit]))
    return GridTables(tuple(t for t, _ in frozen), steps, order).validate(), medians


def export_grid(registry: Registry, entry: ModelEntry) -> ModelEntry:
    """Add the grid entry of a registered network (format version 2 streams name it): its
    tables at every grid step and its channel order, beside the same weights and graphs."""
    from rdcodec.codec import load_entry

    network = load_entry(entry, registry, runtime="torch").network
    grid, medians = freeze_grid(network)
    grid_blob = grid.to_bytes(medians)
    weights = registry.read_file(entry, entry.weights)
    digest = model_digest(weights, grid_blob)
    stem = entry.weights.removesuffix(".pt").rsplit("-", 1)[0]
    grid_id = f"{stem}-grid"
    grid_name = f"{grid_id}-{digest[:8]}.grid.npz"
    files = [entry.weights, *((entry.runtime or {}).values())]
    grid_entry = ModelEntry(
        id=grid_id,
        name=grid_id,
        weights=entry.weights,
        tables=grid_name,
        sha256={**{name: entry.sha256[name] for name in files}, grid_name: hashlib.sha256(grid_blob).hexdigest()},
        digest=digest,
        network=entry.network,
        objective=entry.objective,
        description=f"{entry.description.split('; quantization step')[0]}; tables at {grid.size} quantization steps "
        f"{float(grid.steps[0]):.3g} … {float(grid.steps[-1]):.3g} (format version 2)",
        training=entry.training,
        runtime=entry.runtime,
        kind="grid",
    )
    registry.add(grid_entry, weights, grid_blob)
    return grid_entry


def load_trained_network(checkpoint, as_trained: bool = True) -> tuple[RDAutoencoder, dict]:
    """(network with quantiles settled by bisection, checkpoint state) of a training checkpoint.

    Load once, then :func:`export_trained` it at as many steps Δ as a ladder or sweep needs.
    A run trained under bf16 autocast (:func:`~rdcodec.train.checkpoint.trained_under_bf16`:
    what the run's last steps ran, which is float32 where the CPU has no bfloat16 instructions
    even if the config asked for ``bf16``) trained its transforms' weights
    rounded to bfloat16, so those are the ones loaded (``as_trained``; the state then says
    ``transform_weights = "bfloat16"``, and the exported entry records it): see
    :func:`rdcodec.model.precision.round_to_autocast_weights`.
    """
    from rdcodec.model.network import NetworkConfig
    from rdcodec.model.precision import round_to_autocast_weights
    from rdcodec.train.checkpoint import CheckpointError, load_checkpoint, trained_under_bf16

    state = load_checkpoint(checkpoint)
    if state.get("task", "codec") != "codec" or not isinstance(state.get("network"), dict):
        raise CheckpointError(f"{checkpoint}: a {state.get('task')} checkpoint, not a codec network")
    network = RDAutoencoder(NetworkConfig.from_dict(state["network"]))
    network.load_state_dict(state["model"])
    if as_trained and trained_under_bf16(state):
        round_to_autocast_weights(network)  # the convolutions and GDNs of g_a and g_s
        state = dict(state, transform_weights="bfloat16")
    network.settle_quantiles()
    return network, state


def export_trained(network: RDAutoencoder, state: dict, registry: Registry, model_id: str, **fields) -> ModelEntry:
    """:func:`export_model` with the checkpoint's objective and step count in the entry."""
    training = dict(fields.pop("training", None) or {})
    training.setdefault("steps", int(state["step"]))
    if state.get("transform_weights"):
        training.setdefault("transform_weights", state["transform_weights"])
    return export_model(network, registry, model_id, objective=state.get("objective"), training=training, **fields)


def export_checkpoint(checkpoint, registry: Registry, model_id: str, **fields) -> ModelEntry:
    """Export a codec training checkpoint (:mod:`rdcodec.train.checkpoint`), quantiles settled first."""
    network, state = load_trained_network(checkpoint)
    return export_trained(network, state, registry, model_id, **fields)
