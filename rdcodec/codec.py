"""The codec: image ⇄ ``.rdc`` bytes, joining the network, the entropy coder and the container.

Encoding (paper eq. 2 with quantization in place of the training noise ε)::

    RGB uint8 [H,W,3] ─► pad (edge) to ×16 ─► /255 ─► g_a ─► z [M,h,w]
        ─► round((z − median_c) / Δ) ─► symbols [M, h·w] ─► range coder (frozen tables) ─► payload
        ─► container (header: model id + digest, sizes, CRCs) ─► bytes

Decoding::

    bytes ─► container (checks) ─► range decoder (frozen tables) ─► symbols·Δ + median_c ─► g_s
        ─► clamp [0,1] ─► ×255, round ─► crop to H×W ─► RGB uint8

The decoder never evaluates the float prior: the tables were frozen at export.
"""

from __future__ import annotations

import dataclasses
import io
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from rdcodec.format import container, entropy
from rdcodec.format.container import DEFAULT_MAX_PIXELS, ContainerError, Header
from rdcodec.format.container import LATENT_STRIDE as STRIDE
from rdcodec.format.entropy import FrozenTables
from rdcodec.format.errors import CodecError
from rdcodec.format.tables import GridTables
from rdcodec.image_io import LoadedImage, read_image
from rdcodec.runtime.transforms import Transforms
from rdcodec.tiling import DEFAULT_TILE, analysis_tiled, synthesis_tiled
from rdcodec.zoo.registry import ModelEntry, ModelNotFoundError, Registry

if TYPE_CHECKING:  # torch and compressai are imported where a transform runs, not here
    from rdcodec.model.network import RDAutoencoder


@dataclasses.dataclass(eq=False)
class Model:
    """A loaded model: its manifest entry, frozen tables and quantization centres, and the
    transforms encode and decode run (ONNX Runtime when the model ships graphs, else torch).

    ``network`` (the torch :class:`~rdcodec.model.network.RDAutoencoder`, for the search,
    analysis and training) is loaded on first use, so encoding and decoding never import torch.
    """

    entry: ModelEntry
    tables: FrozenTables
    medians: np.ndarray  # float32 [M]
    step: float  # quantization step Δ: symbols = round((z − median) / Δ)
    transforms: Transforms
    load_network: Callable[[], "RDAutoencoder"] = dataclasses.field(repr=False)
    _network: "RDAutoencoder | None" = dataclasses.field(default=None, repr=False)
    #: the network's grid tables (format version 2), once read: see :mod:`rdcodec.codec_v2`
    grid: "GridCoding | None" = dataclasses.field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def digest16(self) -> bytes:
        return bytes.fromhex(self.entry.digest)[: container.DIGEST_BYTES]

    @property
    def network(self) -> "RDAutoencoder":
        if self._network is None:
            self._network = self.load_network()
        return self._network


class EncodeResult(NamedTuple):
    data: bytes
    width: int
    height: int
    bits_per_pixel: float  # from the real stream size
    estimated_bpp: float  # −Σ log₂ P of the coded symbols under the frozen tables, per pixel
    header_bytes: int  # container bytes outside the range-coded payload
    escapes: int  # symbols coded through the escape path
    notes: tuple[str, ...]  # conversions applied to the input
    symbols: np.ndarray | None = None  # the coded latent symbols, int32 [M, h, w]


class DecodeResult(NamedTuple):
    pixels: np.ndarray  # H×W×3 uint8
    header: Header
    bits_per_pixel: float


#: Which runtime runs the transforms: "auto" (ONNX Runtime if the model ships graphs), "onnx", "torch".
RUNTIMES = ("auto", "onnx", "torch")


def load_model(
    name: str | None = None, registry: Registry | None = None, runtime: str = "auto", threads: int | None = None
) -> Model:
    """Load a registered model (by id or name; default model if ``None``).

    ``runtime``: see :data:`RUNTIMES`; ``threads``: threads of the transforms (default: all cores).
    """
    registry = registry or Registry()
    entry = registry.find(name)
    return load_entry(entry, registry, runtime=runtime, threads=threads)


class CodingTables(NamedTuple):
    """What the entropy decoder needs of a model: numpy only, no network."""

    tables: FrozenTables
    medians: np.ndarray  # float32 [M]
    step: float


class GridCoding(NamedTuple):
    """What a version 2 stream is coded with: the network's grid entry and its tables."""

    entry: ModelEntry
    grid: GridTables
    medians: np.ndarray  # float32 [M]


def grid_coding(entry: ModelEntry, grid_blob: bytes) -> GridCoding:
    grid, medians = GridTables.from_bytes(grid_blob)
    return GridCoding(entry, grid, medians)


def coding_tables(tables_blob: bytes) -> CodingTables:
    """The frozen tables, medians and Δ of a model's ``.tables.npz`` bytes."""
    tables = FrozenTables.from_bytes(tables_blob)
    with np.load(io.BytesIO(tables_blob), allow_pickle=False) as npz:
        medians = npz["medians"].astype(np.float32)
        step = float(npz["step"]) if "step" in npz.files else 1.0
    return CodingTables(tables, medians, step)


def _network_loader(entry: ModelEntry, registry: Registry, threads: int | None = None) -> Callable[[], "RDAutoencoder"]:
    def load() -> "RDAutoencoder":
        import torch

        if threads:
            torch.set_num_threads(threads)
        from rdcodec.model.network import NetworkConfig, RDAutoencoder

        state = torch.load(io.BytesIO(registry.read_file(entry, entry.weights)), map_location="cpu", weights_only=True)
        network = RDAutoencoder(NetworkConfig.from_dict(state["network"]))
        network.load_state_dict(state["state_dict"])
        return network.eval()

    return load


def load_entry(
    entry: ModelEntry,
    registry: Registry,
    coding: CodingTables | None = None,
    runtime: str = "auto",
    threads: int | None = None,
) -> Model:
    """The model of a manifest entry (``coding``: its tables, if already read)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
    grid = None
    if entry.kind == "grid":  # a grid entry codes at any of its steps; its unit step stands for "the" step
        grid = grid_coding(entry, registry.read_file(entry, entry.tables))
        unit = grid.grid.nearest_index(1.0)
        coding = CodingTables(grid.grid.tables[unit], grid.medians, float(grid.grid.steps[unit]))
    coding = coding or coding_tables(registry.read_file(entry, entry.tables))
    channels = entry.network.M
    if coding.medians.shape != (channels,) or coding.tables.channels != channels:
        raise ModelNotFoundError(f"model {entry.id}: tables do not match the network ({channels} channels)")
    load_network = _network_loader(entry, registry, threads)
    graphs = entry.runtime or {}
    use_onnx = runtime == "onnx" or (runtime == "auto" and graphs and _onnxruntime_available())
    if use_onnx:
        if not graphs:
            raise ModelNotFoundError(f"model {entry.id} ships no ONNX graphs (export it again, or use the torch runtime)")
        from rdcodec.runtime.onnx_transforms import OnnxTransforms

        transforms = OnnxTransforms(
            lambda: registry.read_file(entry, graphs["analysis"]), lambda: registry.read_file(entry, graphs["synthesis"]), threads
        )
        return Model(entry, coding.tables, coding.medians, coding.step, transforms, load_network, grid=grid)
    from rdcodec.runtime.torch_transforms import TorchTransforms

    network = load_network()
    transforms = TorchTransforms(network, threads)
    return Model(entry, coding.tables, coding.medians, coding.step, transforms, load_network, network, grid=grid)


def _onnxruntime_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def _as_pixels(image, max_pixels: int) -> LoadedImage:
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("pixel arrays must be H×W×3 uint8")
        return LoadedImage(image, ())
    return read_image(image if isinstance(image, bytes) else Path(image), max_pixels=max_pixels)


def _padded(pixels: np.ndarray) -> np.ndarray:
    """Edge-replicate the right and bottom edges to a multiple of the latent stride."""
    h, w = pixels.shape[:2]
    return np.pad(pixels, ((0, -h % STRIDE), (0, -w % STRIDE), (0, 0)), mode="edge")


def _table_bits(model: Model, symbols) -> float:
    """Exact bits of symbols [1, M, h, w] (a float tensor of integers) under the frozen tables."""
    flat = symbols[0].numpy().astype(np.int64).astype(np.int32)
    return entropy.estimate_bits(flat.reshape(flat.shape[0], -1), model.tables)


#: Small images: a latent side of at most this many positions …
SMALL_IMAGE_LATENT_SIDE = 2
#: … and at most this many latent positions (at most 128 × 128 pixels) …
SMALL_IMAGE_POSITIONS = 64
#: … are refined by this many steps of the RD search on MSE over the image's own pixels,
SMALL_IMAGE_SEARCH = 200
#: with this weight of MSE (in [0, 1]²) per bit per pixel (MSE 10⁻³, 30 dB, costs one bit).
SMALL_IMAGE_LAMBDA = 1000.0
#: An image of one latent position (at most 16 × 16 pixels) gets longer and more
#: quality-weighted refinement: its 128 numbers must draw the whole image from zero padding.
SINGLE_POSITION_SEARCH = 400
SINGLE_POSITION_LAMBDA = 10000.0


def is_small_image(height: int, width: int) -> bool:
    """Whether the encoder refines this image's symbols (see :func:`latent_symbols`)."""
    lat_h, lat_w = container.latent_size(height, width)
    return min(lat_h, lat_w) <= SMALL_IMAGE_LATENT_SIDE and lat_h * lat_w <= SMALL_IMAGE_POSITIONS


def scaled_latents(model: Model, pixels: np.ndarray, tile: int | None = DEFAULT_TILE, step: float | None = None) -> np.ndarray:
    """(g_a(x) − median) / Δ in float32 [M, h, w], before rounding: the plain encoder's symbols
    are its nearest integers (:func:`latent_symbols`); ``tile`` and ``step`` as there."""
    step = model.step if step is None else float(step)
    z = analysis_tiled(_padded(pixels), model.transforms.analysis, tile=tile or 1 << 30)
    return (z - model.medians[:, None, None]) / np.float32(step)


def _refuse_grid_model(model: Model) -> None:
    """A model of grid tables has no version 1 tables: it writes format version 2."""
    if model.entry.kind == "grid":
        raise CodecError(f"model {model.id} holds grid tables: it writes format version 2 (--format-version 2)")


def latent_symbols(
    model: Model,
    pixels: np.ndarray,
    search: int = 0,
    tile: int | None = DEFAULT_TILE,
    step: float | None = None,
    search_method: str = "sga",
) -> np.ndarray:
    """The model's quantized latent symbols round((g_a(x) − median) / Δ) as int32 [M, h, w].

    The analysis transform runs in tiles of ``tile`` latent positions (:mod:`rdcodec.tiling`;
    ``None``: one pass). With ``search`` > 0, that many steps of the encoder-side RD search
    (:mod:`rdcodec.search`) refine them for this image under the model's own D and λ1; the
    search works on the whole image at once, by stochastic Gumbel annealing unless
    ``search_method = "ste"`` (straight-through rounding, the search of earlier releases).

    Small images (:func:`is_small_image`: 1–2 latent positions across, e.g. anything under
    32 pixels on a side) are refined even with ``search = 0``: the transforms see their zero
    padding on every side of so few positions, and the plain encoder's colours are far off (a
    flat 16 × 16 image had a mean absolute error of 33 levels, a flat 64 × 64 one 10). Their
    symbols come from :data:`SMALL_IMAGE_SEARCH` steps (:data:`SINGLE_POSITION_SEARCH` for a
    single latent position; or ``search``, if more) of the search on MSE over the image's own pixels (not the padding; the rate is still counted per padded
    pixel, as :data:`SMALL_IMAGE_LAMBDA` was chosen), about a second; the decoder and format
    are unchanged.

    ``step``: quantize with this Δ instead of the model's (format version 2 codes at a step of
    the model's grid); the search then still counts bits under the model's own tables.
    """
    step = model.step if step is None else float(step)
    if not isinstance(search, numbers.Integral) or isinstance(search, bool) or search < 0:
        raise ValueError(f"search must be a non-negative number of steps, not {search!r}")
    height, width = pixels.shape[:2]
    if search == 0 and not is_small_image(height, width):
        # round((z − median) / Δ) in float32, half to even: the same operations as torch.round
        return np.rint(scaled_latents(model, pixels, tile, step)).astype(np.int32)

    import torch

    from rdcodec.image_tensor import to_tensor

    medians = torch.from_numpy(model.medians)
    if is_small_image(height, width):  # with or without --search: the refinement, at least as long
        from rdcodec.search import search_symbols

        single = container.latent_size(height, width) == (1, 1)
        steps, weight = (SINGLE_POSITION_SEARCH, SINGLE_POSITION_LAMBDA) if single else (SMALL_IMAGE_SEARCH, SMALL_IMAGE_LAMBDA)

        symbols = search_symbols(
            model.network,
            to_tensor(_padded(pixels)),
            medians,
            step,
            metric="mse",
            lambda1=weight,
            iterations=max(search, steps),
            lr=0.05,
            table_bits=lambda s: _table_bits(model, s),
            bf16=False,
            crop=(height, width),
            method="ste",
        )[0]
    else:
        x = to_tensor(_padded(pixels))
        from rdcodec.search import search_symbols

        objective = model.entry.objective
        if objective is None:
            raise ValueError(f"model {model.id} has no training objective in its manifest; it cannot be searched")
        metric = objective.metric
        if metric == "ms-ssim" and min(x.shape[-2:]) <= 160:  # too small for MS-SSIM's 5 scales
            metric = "ssim"

        symbols = search_symbols(
            model.network,
            x,
            medians,
            step,
            metric=metric,
            lambda1=float(objective.lambda1),
            iterations=search,
            table_bits=lambda s: _table_bits(model, s),
            method=search_method,
        )[0]
    return symbols.to(torch.int64).numpy().astype(np.int32)


def reconstruct(
    model: Model, symbols: np.ndarray, height: int, width: int, tile: int | None = DEFAULT_TILE, step: float | None = None
) -> np.ndarray:
    """g_s(symbols · Δ + median) as H×W×3 uint8 (clamped, rounded, cropped), in tiles of
    ``tile`` latent positions (:mod:`rdcodec.tiling`; ``None``: one pass); ``step``: Δ, if not the model's."""
    step = model.step if step is None else float(step)
    # ẑ = symbols · Δ + median in float32 (the operations of RDAutoencoder.dequantize)
    z_hat = symbols.astype(np.float32) * np.float32(step) + model.medians[:, None, None]
    return synthesis_tiled(z_hat, model.transforms.synthesis, height, width, tile=tile or 1 << 30)


def encode_image(
    image, model: Model, search: int = 0, tile: int | None = DEFAULT_TILE, max_pixels: int = DEFAULT_MAX_PIXELS
) -> EncodeResult:
    """Encode an image (path, bytes, or H×W×3 uint8 array) into a ``.rdc`` stream.

    ``search`` > 0 spends that many gradient steps per image on the encoder-side RD search
    (slower encoding, same decoder and format); 0 is the plain amortised encoder. ``tile``:
    see :func:`latent_symbols`. Images over ``max_pixels`` are refused (from a file's header,
    before its pixels are decoded).
    """
    _refuse_grid_model(model)  # before the pixels are read and analysed
    loaded = _as_pixels(image, max_pixels)
    pixels = loaded.pixels
    height, width = pixels.shape[:2]
    if height * width > max_pixels:
        raise CodecError(f"image is {width}×{height} = {height * width} pixels, over the limit of {max_pixels}")
    symbols = latent_symbols(model, pixels, search, tile)
    return encode_symbols(symbols, model, width, height)._replace(notes=loaded.notes)


def encode_symbols(symbols: np.ndarray, model: Model, width: int, height: int) -> EncodeResult:
    """The version 1 stream of latent symbols int [M, h, w] of a ``width`` × ``height`` image
    (the entropy-coding half of :func:`encode_image`; the twin of
    :func:`rdcodec.codec_v2.encode_symbols_v2`)::

        symbols ──entropy.encode(model.tables)──▶ payload ──container.pack(Header)──▶ .rdc bytes

    A model of grid tables has no version 1 tables and is refused (:class:`CodecError`).
    """
    _refuse_grid_model(model)
    channels, lat_h, lat_w = symbols.shape
    coded = entropy.encode(symbols.reshape(channels, -1), model.tables)
    header = Header(model.id, model.digest16, width, height, channels, lat_h, lat_w, len(coded.payload))
    data = container.pack(header, coded.payload)
    pixels_n = width * height
    return EncodeResult(
        data=data,
        width=width,
        height=height,
        bits_per_pixel=len(data) * 8 / pixels_n,
        estimated_bpp=coded.estimated_bits / pixels_n,
        header_bytes=len(data) - len(coded.payload),
        escapes=coded.escapes,
        notes=(),
        symbols=symbols,
    )


def encode(image, model: Model | None = None, search: int = 0) -> bytes:
    """``.rdc`` bytes of an image with ``model`` (the default model if ``None``)."""
    return encode_image(image, model or load_model(), search).data


def _check_model(header: Header, model: Model) -> None:
    if model.id != header.model_id:
        raise CodecError(f"file was written with model {header.model_id!r}, not {model.id!r}")
    if model.digest16 != header.model_digest:
        raise CodecError(f"file was written with different weights of model {header.model_id!r} (digest mismatch)")


def _entry_for(header: Header, registry: Registry | None) -> ModelEntry:
    """The installed entry a stream names, checked against its digest (manifest only)."""
    try:
        entry = (registry or Registry()).find(header.model_id)
    except ModelNotFoundError:
        raise CodecError(f"file was written with model {header.model_id!r}, which is not installed") from None
    if entry.id != header.model_id:  # found by name: a stream names its model by id
        raise CodecError(f"file was written with model {header.model_id!r}, which is not installed")
    if bytes.fromhex(entry.digest)[: container.DIGEST_BYTES] != header.model_digest:
        raise CodecError(f"file was written with different weights of model {header.model_id!r} (digest mismatch)")
    return entry


def decode_stream(
    data: bytes,
    model: Model | None = None,
    registry: Registry | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    tile: int | None = DEFAULT_TILE,
    runtime: str = "auto",
    threads: int | None = None,
    cache: dict | None = None,
) -> DecodeResult:
    """Decode ``.rdc`` bytes (format version 1 or 2); the model is found from the header unless given.

    Everything about the bytes is checked before the network is loaded (and before torch is
    imported): the container (sizes against ``max_pixels``, CRCs), the model's id and digest,
    and the entropy decoding, which must consume the payload exactly. ``tile``: see
    :func:`reconstruct`; ``runtime`` and ``threads`` (when the model is loaded here): see
    :func:`load_model`; ``cache`` (a dict) keeps the models loaded here by id, for decoding many
    streams in one process.
    """
    if len(data) > 4 and data[:4] == container.MAGIC and data[4] in container.CHUNKED_VERSIONS:
        from rdcodec.codec_v2 import decode_stream_v2

        v2 = decode_stream_v2(data, model, registry, max_pixels, tile, runtime, threads, cache)
        return DecodeResult(v2.pixels, v2.header, v2.bits_per_pixel)
    parsed = container.unpack(data, max_pixels=max_pixels)
    header = parsed.header
    if model is None and cache is not None and header.model_id in cache:
        model = cache[header.model_id]
    if model is None:
        registry = registry or Registry()
        entry = _entry_for(header, registry)
        coding = coding_tables(registry.read_file(entry, entry.tables))
        tables = coding.tables
    else:
        _check_model(header, model)
        tables = model.tables
    if header.latent_channels != tables.channels:
        raise CodecError("file's latent channel count does not match the model")
    n = header.latent_height * header.latent_width
    try:
        symbols = entropy.decode(parsed.payload, tables, n)
    except entropy.EntropyDecodeError as exc:
        raise CodecError(str(exc)) from None
    if model is None:
        model = load_entry(entry, registry, coding, runtime=runtime, threads=threads)
        if cache is not None:
            cache[model.id] = model
    symbols = symbols.reshape(header.latent_channels, header.latent_height, header.latent_width)
    pixels = reconstruct(model, symbols, header.height, header.width, tile)
    return DecodeResult(pixels, header, parsed.bits_per_pixel)


def decode(data: bytes, model: Model | None = None) -> np.ndarray:
    """H×W×3 uint8 pixels of a ``.rdc`` stream."""
    return decode_stream(data, model).pixels


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "CodecError",
    "CodingTables",
    "ContainerError",
    "DecodeResult",
    "EncodeResult",
    "Model",
    "decode",
    "decode_stream",
    "encode",
    "encode_image",
    "encode_symbols",
    "latent_symbols",
    "load_model",
    "reconstruct",
    "scaled_latents",
]
