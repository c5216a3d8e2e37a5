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

import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from rdcodec.format import container, entropy
from rdcodec.format.container import ContainerError, Header
from rdcodec.format.entropy import FrozenTables
from rdcodec.format.errors import CodecError
from rdcodec.image_io import LoadedImage, read_image
from rdcodec.image_tensor import to_pixels, to_tensor
from rdcodec.model.network import STRIDE, NetworkConfig, RDAutoencoder
from rdcodec.zoo.registry import ModelEntry, ModelNotFoundError, Registry


class Model(NamedTuple):
    """A loaded model: network, frozen tables and quantization centres, and its manifest entry."""

    entry: ModelEntry
    network: RDAutoencoder
    tables: FrozenTables
    medians: np.ndarray  # float32 [M]
    step: float = 1.0  # quantization step Δ: symbols = round((z − median) / Δ)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def digest16(self) -> bytes:
        return bytes.fromhex(self.entry.digest)[: container.DIGEST_BYTES]


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


def load_model(name: str | None = None, registry: Registry | None = None) -> Model:
    """Load a registered model (by id or name; default model if ``None``)."""
    registry = registry or Registry()
    entry = registry.find(name)
    return load_entry(entry, registry)


def load_entry(entry: ModelEntry, registry: Registry) -> Model:
    weights, tables_blob = registry.read_files(entry)
    state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    network = RDAutoencoder(NetworkConfig.from_dict(state["network"]))
    network.load_state_dict(state["state_dict"])
    network.eval()
    tables = FrozenTables.from_bytes(tables_blob)
    with np.load(io.BytesIO(tables_blob), allow_pickle=False) as npz:
        medians = npz["medians"].astype(np.float32)
        step = float(npz["step"]) if "step" in npz.files else 1.0
    if medians.shape != (network.config.M,) or tables.channels != network.config.M:
        raise ModelNotFoundError(f"model {entry.id}: tables do not match the network ({network.config.M} channels)")
    return Model(entry, network, tables, medians, step)


def _as_pixels(image) -> LoadedImage:
    if isinstance(image, LoadedImage):
        return image
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("pixel arrays must be H×W×3 uint8")
        return LoadedImage(image, ())
    return read_image(image if isinstance(image, bytes) else Path(image), max_pixels=container.DEFAULT_MAX_PIXELS)


def _to_tensor(pixels: np.ndarray) -> torch.Tensor:
    h, w = pixels.shape[:2]
    ph, pw = -h % STRIDE, -w % STRIDE
    return to_tensor(np.pad(pixels, ((0, ph), (0, pw), (0, 0)), mode="edge"))


def latent_symbols(model: Model, pixels: np.ndarray, search: int = 0) -> np.ndarray:
    """The model's quantized latent symbols round((g_a(x) − median) / Δ) as int32 [M, h, w].

    With ``search`` > 0, that many steps of the encoder-side RD search
    (:mod:`rdcodec.search`) refine them for this image under the model's own D and λ1.
    """
    x = _to_tensor(pixels)
    medians = torch.from_numpy(model.medians)
    if search > 0:
        from rdcodec.search import search_symbols

        objective = model.entry.objective
        if objective is None:
            raise ValueError(f"model {model.id} has no training objective in its manifest; it cannot be searched")
        metric = objective.metric
        if metric == "ms-ssim" and min(x.shape[-2:]) <= 160:  # too small for MS-SSIM's 5 scales
            metric = "ssim"

        def table_bits(symbols: torch.Tensor) -> float:
            flat = symbols[0].to(torch.int64).numpy().astype(np.int32)
            return entropy.estimate_bits(flat.reshape(flat.shape[0], -1), model.tables)

        symbols = search_symbols(
            model.network,
            x,
            medians,
            model.step,
            metric=metric,
            lambda1=float(objective.lambda1),
            iterations=search,
            table_bits=table_bits,
        )[0]
    else:
        with torch.no_grad():
            symbols = model.network.quantize(model.network.encode_latent(x), medians, model.step)[0]
    return symbols.to(torch.int64).numpy().astype(np.int32)


@torch.no_grad()
def reconstruct(model: Model, symbols: np.ndarray, height: int, width: int) -> np.ndarray:
    """g_s(symbols · Δ + median) as H×W×3 uint8 (clamped, rounded, cropped)."""
    z_hat = model.network.dequantize(
        torch.from_numpy(symbols.astype(np.float32))[None], torch.from_numpy(model.medians), model.step
    )
    return np.ascontiguousarray(to_pixels(model.network.decode_latent(z_hat))[:height, :width])


def encode_image(image, model: Model, search: int = 0) -> EncodeResult:
    """Encode an image (path, bytes, or H×W×3 uint8 array) into a ``.rdc`` stream.

    ``search`` > 0 spends that many gradient steps per image on the encoder-side RD search
    (slower encoding, same decoder and format); 0 is the plain amortised encoder.
    """
    loaded = _as_pixels(image)
    pixels = loaded.pixels
    height, width = pixels.shape[:2]
    if height * width > container.DEFAULT_MAX_PIXELS:
        raise ValueError(f"image has {height * width} pixels, over the limit of {container.DEFAULT_MAX_PIXELS}")
    symbols = latent_symbols(model, pixels, search)
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
        notes=loaded.notes,
        symbols=symbols,
    )


def encode(image, model: Model | None = None, search: int = 0) -> bytes:
    """``.rdc`` bytes of an image with ``model`` (the default model if ``None``)."""
    return encode_image(image, model or load_model(), search).data


def model_for(header: Header, model: Model | None, registry: Registry | None) -> Model:
    """The model a stream names, checked against its digest."""
    if model is None:
        try:
            model = load_model(header.model_id, registry)
        except ModelNotFoundError:
            raise CodecError(f"file was written with model {header.model_id!r}, which is not installed") from None
    if model.id != header.model_id:
        raise CodecError(f"file was written with model {header.model_id!r}, not {model.id!r}")
    if model.digest16 != header.model_digest:
        raise CodecError(f"file was written with different weights of model {header.model_id!r} (digest mismatch)")
    if header.latent_channels != model.tables.channels:
        raise CodecError("file's latent channel count does not match the model")
    return model


def decode_stream(
    data: bytes,
    model: Model | None = None,
    registry: Registry | None = None,
    max_pixels: int = container.DEFAULT_MAX_PIXELS,
) -> DecodeResult:
    """Decode ``.rdc`` bytes; the model is found from the header unless given."""
    parsed = container.unpack(data, max_pixels=max_pixels)
    header = parsed.header
    model = model_for(header, model, registry)
    n = header.latent_height * header.latent_width
    try:
        symbols = entropy.decode(parsed.payload, model.tables, n)
    except entropy.EntropyDecodeError as exc:
        raise CodecError(str(exc)) from None
    symbols = symbols.reshape(header.latent_channels, header.latent_height, header.latent_width)
    pixels = reconstruct(model, symbols, header.height, header.width)
    return DecodeResult(pixels, header, parsed.bits_per_pixel)


def decode(data: bytes, model: Model | None = None) -> np.ndarray:
    """H×W×3 uint8 pixels of a ``.rdc`` stream."""
    return decode_stream(data, model).pixels


__all__ = [
    "CodecError",
    "ContainerError",
    "DecodeResult",
    "EncodeResult",
    "Model",
    "decode",
    "decode_stream",
    "encode",
    "encode_image",
    "latent_symbols",
    "load_model",
    "reconstruct",
]
