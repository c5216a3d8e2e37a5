"""ONNX graphs of the analysis and synthesis transforms, built at export from plain layers.

Each transform is a chain of the layers :meth:`rdcodec.model.network.RDAutoencoder.plain_layers`
returns, written with ONNX's own operators (opset 17) and the weights as initializers::

    g_a:  x [B,3,H,W] ─► Conv 5×5/2 ─► GDN ─► Conv ─► GDN ─► Conv ─► GDN ─► Conv ─► z [B,M,H/16,W/16]
    g_s:  z ─► ConvTranspose 5×5/2 ─► IGDN ─► … ─► ConvTranspose ─► x̂ [B,3,H,W]   (unclamped)

    GDN:  y = x / sqrt(β + Conv1×1(x², γ))          IGDN: y = x · sqrt(β + Conv1×1(x², γ))

Each transposed convolution is written as its four output phases, one 3 × 3 convolution with
4·C_out outputs, then DepthToSpace (:func:`subpixel_weights`): the same sums without the
scatter of a transposed convolution; with ONNX Runtime on this CPU it decodes a Kodak image
about 1.9× faster than ``ConvTranspose``.

Height and width are free (multiples of 16), so one graph serves every tile size. Needs the
``onnx`` package (export time only); running the graphs needs only ``onnxruntime``
(:mod:`rdcodec.runtime.onnx_transforms`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The ONNX operator set the graphs use.
OPSET = 17


#: Kernel tap of a 5 × 5 / 2 transposed convolution (padding 2, output padding 1) that output
#: phase r uses at offset t ∈ {0, 1, 2} (input position m − 1 + t); None: no tap.
_PHASE_TAPS = {0: (4, 2, 0), 1: (None, 3, 1)}


def subpixel_weights(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ConvTranspose2d(k=5, s=2, p=2, output_padding=1) as one 3 × 3 convolution (padding 1)
    with 4·C_out outputs followed by DepthToSpace(2, "DCR"): output pixel (2m + r_y, 2n + r_x) is
    Σ x[m − 1 + t_y, n − 1 + t_x] · w[k_y, k_x] over the taps of phase (r_y, r_x).

    ``weight`` is torch's layout [C_in, C_out, 5, 5]; returns ([4·C_out, C_in, 3, 3], [4·C_out]).
    """
    c_in, c_out = weight.shape[:2]
    out = np.zeros((2, 2, c_out, c_in, 3, 3), dtype=np.float32)
    for ry in (0, 1):
        for rx in (0, 1):
            for ty, ky in enumerate(_PHASE_TAPS[ry]):
                for tx, kx in enumerate(_PHASE_TAPS[rx]):
                    if ky is not None and kx is not None:
                        out[ry, rx, :, :, ty, tx] = weight[:, :, ky, kx].T
    return out.reshape(4 * c_out, c_in, 3, 3), np.tile(np.asarray(bias, np.float32), 4)


def _graph(layers: Sequence, name: str, input_name: str, in_channels: int, output_name: str) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    current = input_name
    for i, layer in enumerate(layers):
        w_name, b_name = f"{name}.{i}.weight", f"{name}.{i}.bias"
        out = output_name if i == len(layers) - 1 else f"{name}.{i}.out"
        if layer.kind in ("conv", "deconv"):
            inits += [numpy_helper.from_array(np.ascontiguousarray(layer.weight, np.float32), w_name)]
            inits += [numpy_helper.from_array(np.ascontiguousarray(layer.bias, np.float32), b_name)]
            attrs = {"kernel_shape": [5, 5], "strides": [2, 2], "pads": [2, 2, 2, 2]}
            if layer.kind == "conv":
                nodes.append(helper.make_node("Conv", [current, w_name, b_name], [out], **attrs))
            else:  # the transposed convolution as 4 phase convolutions + DepthToSpace (same values)
                weight, bias = subpixel_weights(layer.weight, layer.bias)
                inits[-2:] = [numpy_helper.from_array(weight, w_name), numpy_helper.from_array(bias, b_name)]
                phases = f"{name}.{i}.phases"
                nodes.append(
                    helper.make_node("Conv", [current, w_name, b_name], [phases], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
                )
                nodes.append(helper.make_node("DepthToSpace", [phases], [out], blocksize=2, mode="DCR"))
        elif layer.kind in ("gdn", "igdn"):
            channels = layer.weight.shape[0]
            gamma = np.ascontiguousarray(layer.weight.reshape(channels, channels, 1, 1), np.float32)
            inits += [
                numpy_helper.from_array(gamma, w_name),
                numpy_helper.from_array(np.ascontiguousarray(layer.bias, np.float32), b_name),
            ]
            sq, norm, root = f"{name}.{i}.sq", f"{name}.{i}.norm", f"{name}.{i}.root"
            nodes.append(helper.make_node("Mul", [current, current], [sq]))
            nodes.append(helper.make_node("Conv", [sq, w_name, b_name], [norm], kernel_shape=[1, 1]))
            nodes.append(helper.make_node("Sqrt", [norm], [root]))
            if layer.kind == "gdn":
                nodes.append(helper.make_node("Div", [current, root], [out]))
            else:
                nodes.append(helper.make_node("Mul", [current, root], [out]))
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r}")
        current = out
    out_channels = layers[-1].weight.shape[1 if layers[-1].kind == "deconv" else 0]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", in_channels, "height", "width"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", out_channels, "out_height", "out_width"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rdcodec")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def analysis_graph(layers: Sequence) -> bytes:
    """Serialized ONNX model of g_a: input ``x`` (float32 [B, 3, H, W] in [0, 1]), output ``z``."""
    return _graph(layers, "analysis", "x", 3, "z")


def synthesis_graph(layers: Sequence) -> bytes:
    """Serialized ONNX model of g_s: input ``z`` (float32 [B, M, h, w]), output ``x_hat`` (unclamped)."""
    return _graph(layers, "synthesis", "z", layers[0].weight.shape[0], "x_hat")


__all__ = ["OPSET", "analysis_graph", "synthesis_graph"]
