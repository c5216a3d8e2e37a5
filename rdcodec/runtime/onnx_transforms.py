"""g_a and g_s run by ONNX Runtime from the graphs shipped with a model (no torch, no compressai)."""

from __future__ import annotations

import os
from collections.abc import Callable

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

    def __init__(
        self,
        analysis_graph: bytes | Callable[[], bytes],
        synthesis_graph: bytes | Callable[[], bytes],
        threads: int | None = None,
    ):
        """Graphs as bytes, or as callables returning them: a session is made on first use, so
        a decoder never reads or prepares the analysis graph (nor an encoder the synthesis)."""
        self._graphs = {"analysis": analysis_graph, "synthesis": synthesis_graph}
        self._sessions: dict = {}
        self.threads = threads or default_threads()

    def _session(self, which: str):
        session = self._sessions.get(which)
        if session is None:
            import onnxruntime as ort

            graph = self._graphs[which]
            session = ort.InferenceSession(
                graph() if callable(graph) else graph, self._options(ort), providers=["CPUExecutionProvider"]
            )
            self._sessions[which] = session
        return session

    def _options(self, ort):
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        # no busy-waiting between runs: the threads sleep instead of holding cores that torch
        # (search, analysis) or other processes want
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def analysis(self, pixels: np.ndarray) -> np.ndarray:
        return self._session("analysis").run(None, {"x": pixels_to_input(pixels)})[0][0]

    def synthesis(self, latent: np.ndarray) -> np.ndarray:
        z = np.ascontiguousarray(latent[None], dtype=np.float32)
        return output_to_pixels(self._session("synthesis").run(None, {"z": z})[0])


__all__ = ["OnnxTransforms", "default_threads"]
