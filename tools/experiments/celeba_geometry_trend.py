#!/usr/bin/env python
"""How §5.3's latent geometry moves as a face network trains (issue 19 §2): the driver's
measurements on several snapshots of one run.

    python tools/experiments/celeba_geometry_trend.py --data ../shared/data/celeba/img_align_celeba_89x109 \
        docs/experiments/celeba/radogaga-snapshot.pt@72200e0 docs/experiments/celeba/radogaga-snapshot.pt@b67e536 \
        docs/experiments/celeba/radogaga-snapshot.pt -o docs/experiments/celeba/geometry-trend.json

Each argument is a face network's checkpoint or weights-only snapshot: a file ``PATH``, or
``PATH@REV``, the file git holds at commit ``REV`` (``PATH`` from the repository's root; ``REV``
without "@"; the session-end snapshots of a run are its history). For each: the step, and what
``celeba_isometry.py`` measures on the held-out faces (its ``measure``: reconstruction SSIM,
the top 10 dimensions' share of the variance, D′ over the top 9: mean and CV, the
random-direction correlation), with the driver's settings (the first ``--held-out`` faces; D′
on the first ``--analysis-images`` of them at δ ``--delta``). The output is never replaced.

          PATH or PATH@REV ──► load_face_network ──► measure(held-out faces) ──► one row
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "experiments"))


@dataclasses.dataclass(frozen=True)
class GeometryRow:
    source: str  # PATH or PATH@REV
    kind: str
    step: int
    reconstruction_ssim: float
    top10_variance_share: float
    d_prime_top9_mean: float
    d_prime_top9_cv: float
    random_direction_correlation: float
    d_prime_top9: list[float]


def read_source(source: str, folder: Path, repo: Path = ROOT) -> Path:
    """``PATH`` itself (a file that exists is read as it is, "@" in its name or not), or
    ``PATH@REV`` copied out of git into ``folder``."""
    path, at, rev = source.rpartition("@")
    if not at or Path(source).exists():
        return Path(source)
    if not path or not rev:
        raise ValueError(f"{source}: give PATH@REV (a commit) or a PATH")
    try:
        data = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as exc:
        why = exc.stderr.decode(errors="replace").strip().splitlines()
        raise ValueError(f"{source}: git cannot show it ({why[-1] if why else 'no reason given'})") from None
    out = folder / f"{len(list(folder.iterdir()))}-{Path(path).name}"
    out.write_bytes(data)
    return out


def measure_source(source: str, faces_of_size, analysis_images: int, delta: float, folder: Path) -> GeometryRow:
    """One row; ``faces_of_size(size)``: the held-out faces at the network's size."""
    from celeba_isometry import measure

    from rdcodec.train.face_task import load_face_network

    file = read_source(source, folder)
    network = load_face_network(file)
    if file.parent == folder:  # a copy out of git (tens of MB): not kept once loaded
        file.unlink()
    faces = faces_of_size(network.model.config.size)
    lambda2 = float(network.config.get("lambda2", 0.1))
    summary, _, _ = measure(network.kind, network.model, faces, analysis_images, delta, lambda2)
    return GeometryRow(
        source=source,
        kind=network.kind,
        step=network.step,
        reconstruction_ssim=float(summary["reconstruction_ssim"]),
        top10_variance_share=float(summary["top10_variance_share"]),
        d_prime_top9_mean=float(summary["d_prime_top9_mean"]),
        d_prime_top9_cv=float(summary["d_prime_top9_cv"]),
        random_direction_correlation=float(summary["random_direction_correlation"]),
        d_prime_top9=[float(v) for v in summary["d_prime_top9"]],
    )


def main(argv=None) -> int:
    from celeba_isometry import add_measurement_arguments, check_measurement_arguments

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "sources", nargs="+", help="a face network's checkpoint or snapshot: PATH, or PATH@REV (PATH from the repository root)"
    )
    add_measurement_arguments(p)
    args = p.parse_args(argv)
    import torch

    from rdcodec import atomic_file

    torch.set_num_threads(1)
    try:
        check_measurement_arguments(args)
        from rdcodec.model.face import load_faces

        @functools.cache
        def faces_of_size(size: int):  # read once, not once per snapshot
            return load_faces(args.data, limit=args.held_out, size=size)

        with tempfile.TemporaryDirectory() as folder:
            rows = []
            for source in args.sources:
                rows.append(measure_source(source, faces_of_size, args.analysis_images, args.delta, Path(folder)))
                print(f"{source}: {rows[-1].kind} @ {rows[-1].step}", file=sys.stderr, flush=True)
        settings = {"held_out": args.held_out, "analysis_images": args.analysis_images, "delta": args.delta}
        report = {
            "schema": "rdcodec.celeba-geometry-trend/1",
            "settings": settings,
            "rows": [dataclasses.asdict(r) for r in rows],
        }
        atomic_file.write_json(args.output, report, replace=False)
    except (ValueError, OSError) as exc:
        print(f"celeba_geometry_trend: error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(
            f"{r.kind} @ {r.step}: SSIM {r.reconstruction_ssim:.4f}, top-10 {r.top10_variance_share:.3f}, "
            f"D′ CV {r.d_prime_top9_cv:.3f} (mean {r.d_prime_top9_mean:.4g}), random-direction corr "
            f"{r.random_direction_correlation:.3f}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
