"""g_a and g_s run by ONNX Runtime from the graphs shipped with a model (no torch, no compressai)."""

from __future__ import annotations

import os

import numpy as np

from rdcodec.runtime.transforms import output_to_pixels, pixels_to_input


def default_threads() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class OnnxTransforms:
    """:class:`~rdcodec.runtime.transforms.Transforms` backed by two ``onnxruntime`` sessions."""

    name = "onnxruntime"

    def __init__(self, analysis_graph: bytes, synthesis_graph: bytes, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        self.threads = options.intra_op_num_threads
        self._analysis = ort.InferenceSession(analysis_graph, options, providers=providers)
        self._synthesis = ort.InferenceSession(synthesis_graph, options, providers=providers)

    def analysis(self, pixels: np.ndarray) -> np.ndarray:
        return self._analysis.run(None, {"x": pixels_to_input(pixels)})[0][0]

    def synthesis(self, latent: np.ndarray) -> np.ndarray:
        z = np.ascontiguousarray(latent[None], dtype=np.float32)
        return output_to_pixels(self._synthesis.run(None, {"z": z})[0])


__all__ = ["OnnxTransforms", "default_threads"]
