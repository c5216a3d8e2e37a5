"""The one error type at the library boundary for bytes that cannot be decoded.

:class:`CodecError` is the base of every refusal of a stream — container damage
(:class:`~rdcodec.format.container.ContainerError`), a payload that is not a valid encoding
(:class:`~rdcodec.format.range_coding.EntropyDecodeError`), a missing or mismatched model
(raised by :mod:`rdcodec.codec`) — so a caller catches one class; its message says what is wrong.
"""


class CodecError(ValueError):
    """The stream cannot be decoded (damaged, not an ``.rdc`` file, or no matching model)."""
