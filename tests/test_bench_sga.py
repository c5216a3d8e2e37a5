"""tools/bench_sga.py's summary: paired images only, BD-rates against the plain encoder, and each N
read against the others on the same images."""

from __future__ import annotations

import math

from conftest import load_tool


def _rows(images, qualities, gains):
    """Synthetic records: at N the file is (1 − gain) as large for the same quality as plain."""
    rows = {}
    for i, image in enumerate(images):
        for q in qualities:
            bpp, ssim = 0.1 * q * (1 + 0.05 * i), 1 - 0.5 / (1 + q)
            for n, gain in gains.items():
                rows[f"{image}|q{q}|N{n}"] = {
                    "bytes": 1000,
                    "bpp": bpp * (1 - gain),
                    "psnr": 20 + q,
                    "ssim": ssim,
                    "ms_ssim": ssim,
                    "encode_s": 0.3 if n == 0 else n / 10,
                }
    return rows


def test_summary_pairs_images_and_reads_each_n_on_the_same_images():
    bench = load_tool("tools/bench_sga.py")
    qualities = [1, 3, 5, 7]
    rows = _rows(["a", "b", "c"], qualities, {0: 0.0, 100: 0.05, 1000: 0.10})
    # N = 1000 only on image "a": its summary rests on "a" alone
    for image in ("b", "c"):
        for q in qualities:
            del rows[f"{image}|q{q}|N1000"]
    del rows["c|q3|N100"]  # an incomplete image is left out of N = 100's pairing
    summary = bench.summarise(rows, ["a", "b", "c"], qualities, [0, 100, 1000])
    assert summary["100"]["image_names"] == ["a", "b"] and summary["1000"]["image_names"] == ["a"]
    assert math.isclose(summary["100"]["bd_rate_against_plain"]["ssim_db"], -5.0, abs_tol=1e-6)
    assert math.isclose(summary["1000"]["bd_rate_against_plain"]["ssim_db"], -10.0, abs_tol=1e-6)
    on_a = summary["1000"]["ssim_db_bd_rate_on_these_images"]
    assert set(on_a) == {"100", "1000"} and math.isclose(on_a["100"], -5.0, abs_tol=1e-6)
    assert set(summary["100"]["ssim_db_bd_rate_on_these_images"]) == {"100"}  # N = 1000 lacks "b"
    assert summary["1000"]["median_encode_s"] == 100 and summary["1000"]["median_encode_s_plain"] == 0.3
    assert bench.summarise(rows, ["a"], qualities, [0, 300])["300"] == {"images": 0}
