"""Every shipped model writes exactly the recorded bytes for ``samples/*.png``.

The record (``tests/golden/shipped-streams.json``) was made with ``tools/record_stream_digests.py``
before the package was restructured; any change that alters one bit of a shipped model's output
fails here. A newly shipped model needs its entry recorded.
"""

import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORD = json.loads((ROOT / "tests" / "golden" / "shipped-streams.json").read_text())


def test_every_shipped_model_is_recorded():
    from rdcodec import Registry

    entries = Registry().entries()
    assert sorted(e.id for e in entries if e.kind == "tables") == sorted(RECORD["streams"])
    assert sorted(RECORD["streams_v2"]) == sorted(RECORD["streams"])
    # every network of a ladder ships its grid tables (format version 2)
    assert {e.weights for e in entries if e.kind == "grid"} == {e.weights for e in entries if e.kind == "tables"}


@pytest.mark.parametrize("model_id", sorted(RECORD["streams"]))
def test_shipped_model_writes_the_recorded_bytes(model_id):
    import rdcodec

    model = rdcodec.load_model(model_id)
    for sample, expected in RECORD["streams"][model_id].items():
        data = rdcodec.encode(str(ROOT / "samples" / sample), model)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (expected["bytes"], expected["sha256"]), sample


@pytest.mark.parametrize("model_id", sorted(RECORD["streams_v2"]))
def test_shipped_model_writes_the_recorded_version_2_bytes(model_id):
    import rdcodec
    from rdcodec.codec_v2 import encode_image_v2

    model = rdcodec.load_model(model_id)
    for sample, expected in RECORD["streams_v2"][model_id].items():
        data = encode_image_v2(str(ROOT / "samples" / sample), model).data
        assert (len(data), hashlib.sha256(data).hexdigest()) == (expected["bytes"], expected["sha256"]), sample
