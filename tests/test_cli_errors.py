"""The error contract of every ``rdcodec`` command (issue 15).

On a bad input a command prints exactly one line ``rdcodec: error: <what is wrong>`` on
stderr, exits with status 2, prints no traceback and leaves no new or partial output file.
Each case below builds its inputs in ``tmp_path`` (tiny synthetic files, ``samples/``, the tiny
test models) and names the outputs that must not exist afterwards, and the files that must be
left as they were.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, make_tiny_network, synthetic_image
from PIL import Image

from rdcodec.cli import main

ERROR_PREFIX = "rdcodec: error: "


class Case:
    """The inputs of one bad invocation, made in ``tmp``."""

    def __init__(self, tmp: Path, registry: Path):
        self.tmp = tmp
        self.registry = registry  # the tiny test models (read-only here)
        self.env: dict[str, str] = {}
        self.kept: dict[Path, bytes] = {}  # files the command must leave as they were

    def path(self, name: str) -> Path:
        return self.tmp / name

    def file(self, name: str, data: bytes | str = b"") -> Path:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def keep(self, name: str, data: bytes | str = b"keep me") -> Path:
        p = self.file(name, data)
        self.kept[p] = p.read_bytes()
        return p

    def png(self, name: str = "in.png", height: int = 37, width: int = 53, seed: int = 0) -> Path:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_image(height, width, seed)).save(p)
        return p

    def flat_png(self, name: str, side: int) -> Path:
        """A valid flat side × side PNG: a few hundred bytes for a huge image."""
        p = self.tmp / name
        Image.new("RGB", (side, side), (90, 120, 30)).save(p, optimize=True)
        return p

    def folder(self, name: str) -> Path:
        p = self.tmp / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def rdc(self, name: str = "good.rdc") -> Path:
        from rdcodec import codec
        from rdcodec.zoo.registry import Registry

        p = self.tmp / name
        p.write_bytes(codec.encode(self.png(), codec.load_model(registry=Registry(self.registry))))
        return p

    def bomb(self, name: str = "bomb.rdc", side: int = 8192) -> Path:
        """A valid header for the tiny model declaring side × side pixels, with no payload."""
        import dataclasses

        from rdcodec.format.container import latent_size, pack, unpack

        header = unpack(self.rdc().read_bytes()).header
        lat_h, lat_w = latent_size(side, side)
        header = dataclasses.replace(header, width=side, height=side, latent_height=lat_h, latent_width=lat_w, payload_length=0)
        return self.file(name, pack(header, b""))

    def own_registry(self, name: str = "reg") -> Path:
        """A writable copy of the tiny models (a test may change it)."""
        target = self.tmp / name
        shutil.copytree(self.registry, target)
        self.env["RDCODEC_MODELS_DIR"] = str(target)
        return target

    def manifest(self, content, name: str = "badreg") -> Path:
        """A models directory whose manifest is ``content`` (JSON-dumped unless a string)."""
        d = self.folder(name)
        (d / "manifest.json").write_text(content if isinstance(content, str) else json.dumps(content))
        self.env["RDCODEC_MODELS_DIR"] = str(d)
        return d

    def ladder(self, name: str = "ladreg") -> Path:
        """A models directory holding an SSIM ladder of one point (quality 1) and no MSE one."""
        from rdcodec.zoo.export import export_model
        from rdcodec.zoo.registry import Registry

        d = self.tmp / name
        objective = {"metric": "ssim", "lambda1": 8.0}
        export_model(make_tiny_network(0), Registry(d), "tiny-q1", default=True, quality=1, objective=objective)
        self.env["RDCODEC_MODELS_DIR"] = str(d)
        return d

    def model_with_objective(self, objective: dict, name: str = "objreg") -> Path:
        from rdcodec.zoo.export import export_model
        from rdcodec.zoo.registry import Registry

        d = self.tmp / name
        export_model(make_tiny_network(0), Registry(d), "tiny", default=True)
        manifest = json.loads((d / "manifest.json").read_text())  # written by hand: export refuses a bad objective
        manifest["models"][0]["objective"] = objective
        (d / "manifest.json").write_text(json.dumps(manifest))
        self.env["RDCODEC_MODELS_DIR"] = str(d)
        return d

    def checkpoint(self, name: str = "run/checkpoint.pt") -> Path:
        import torch

        net = make_tiny_network(0)
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "network": net.config.to_dict(),
                "model": net.state_dict(),
                "step": 3,
                "objective": {"metric": "ssim", "lambda1": 8.0},
            },
            p,
        )
        return p

    def config(self, data, name: str = "config.json") -> Path:
        return self.file(name, data if isinstance(data, str) else json.dumps(data))


def _s(p: Path) -> str:
    return str(p)


# Each builder takes a Case and returns (arguments, outputs that must not exist afterwards).

ENCODE = {
    "missing-input": lambda c: (["encode", _s(c.path("nope.png")), "-o", _s(c.path("o.rdc"))], [c.path("o.rdc")]),
    "input-is-a-directory": lambda c: (["encode", _s(c.folder("d")), "-o", _s(c.path("o.rdc"))], [c.path("o.rdc")]),
    "empty-input": lambda c: (["encode", _s(c.file("e.png")), "-o", _s(c.path("o.rdc"))], [c.path("o.rdc")]),
    "not-an-image": lambda c: (["encode", _s(c.file("t.png", "plain text")), "-o", _s(c.path("o.rdc"))], [c.path("o.rdc")]),
    "truncated-png": lambda c: (
        ["encode", _s(c.file("t.png", c.png("x.png").read_bytes()[:60])), "-o", _s(c.path("o.rdc"))],
        [c.path("o.rdc")],
    ),
    "existing-output": lambda c: (["encode", _s(c.png()), "-o", _s(c.keep("o.rdc"))], []),
    "output-folder-missing": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("no/dir/o.rdc"))], [c.path("no")]),
    "output-is-a-directory": lambda c: (["encode", _s(c.png()), "-o", _s(c.folder("outdir"))], [c.path("outdir/o.rdc")]),
    "unknown-model": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "-m", "nonexistent"], [c.path("o.rdc")]),
    "model-and-quality": lambda c: (
        ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "-m", "tiny", "-q", "1"],
        [c.path("o.rdc")],
    ),
    "no-such-quality": lambda c: (
        c.ladder() and ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "-q", "9"],
        [c.path("o.rdc")],
    ),
    "no-ladder-for-quality": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "-q", "1"], [c.path("o.rdc")]),
    "metric-without-quality": lambda c: (
        c.ladder() and ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--metric", "ssim"],
        [c.path("o.rdc")],
    ),
    "negative-search": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--search", "-1"], [c.path("o.rdc")]),
    "search-without-objective": lambda c: (
        c.model_with_objective({}) and ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--search", "2"],
        [c.path("o.rdc")],
    ),
    "manifest-entry-with-unknown-metric": lambda c: (
        c.model_with_objective({"metric": "psnr", "lambda1": 1.0})
        and ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--search", "2"],
        [c.path("o.rdc")],
    ),
    "malformed-manifest": lambda c: (
        c.manifest('{"models": [') and ["encode", _s(c.png()), "-o", _s(c.path("o.rdc"))],
        [c.path("o.rdc")],
    ),
    "unknown-option": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--bogus"], [c.path("o.rdc")]),
    "missing-output-option": lambda c: (["encode", _s(c.png())], []),
    "over-max-pixels": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--max-pixels", "1000"], [c.path("o.rdc")]),
    "flat-9000-square-png": lambda c: (["encode", _s(c.flat_png("big.png", 9000)), "-o", _s(c.path("o.rdc"))], [c.path("o.rdc")]),
    "metric-without-a-ladder": lambda c: (
        ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "-q", "1", "--metric", "ms-ssim"],
        [c.path("o.rdc")],
    ),
    "unknown-metric": lambda c: (
        ["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "-q", "1", "--metric", "psnr"],
        [c.path("o.rdc")],
    ),
    "max-pixels-zero": lambda c: (["encode", _s(c.png()), "-o", _s(c.path("o.rdc")), "--max-pixels", "0"], [c.path("o.rdc")]),
}

DECODE = {
    "missing-input": lambda c: (["decode", _s(c.path("nope.rdc")), "-o", _s(c.path("o.png"))], [c.path("o.png")]),
    "input-is-a-directory": lambda c: (["decode", _s(c.folder("d")), "-o", _s(c.path("o.png"))], [c.path("o.png")]),
    "empty-input": lambda c: (["decode", _s(c.file("e.rdc")), "-o", _s(c.path("o.png"))], [c.path("o.png")]),
    "png-input": lambda c: (["decode", _s(c.png()), "-o", _s(c.path("o.png"))], [c.path("o.png")]),
    "truncated-stream": lambda c: (
        ["decode", _s(c.file("t.rdc", c.rdc().read_bytes()[:-9])), "-o", _s(c.path("o.png"))],
        [c.path("o.png")],
    ),
    "lossy-output-suffix": lambda c: (["decode", _s(c.rdc()), "-o", _s(c.path("o.jpg"))], [c.path("o.jpg")]),
    "existing-output": lambda c: (["decode", _s(c.rdc()), "-o", _s(c.keep("o.png"))], []),
    "missing-reference": lambda c: (
        ["decode", _s(c.rdc()), "-o", _s(c.path("o.png")), "--reference", _s(c.path("nope.png"))],
        [c.path("o.png")],
    ),
    "reference-of-another-size": lambda c: (
        ["decode", _s(c.rdc()), "-o", _s(c.path("o.png")), "--reference", _s(c.png("r.png", 20, 20))],
        [c.path("o.png")],
    ),
    "model-not-installed": lambda c: (
        c.rdc() and c.manifest({"models": []}) and ["decode", _s(c.path("good.rdc")), "-o", _s(c.path("o.png"))],
        [c.path("o.png")],
    ),
    "over-max-pixels": lambda c: (["decode", _s(c.rdc()), "-o", _s(c.path("o.png")), "--max-pixels", "1000"], [c.path("o.png")]),
    "declared-size-over-the-default-limit": lambda c: (
        ["decode", _s(c.bomb(side=16384)), "-o", _s(c.path("o.png"))],
        [c.path("o.png")],
    ),
    "huge-declared-size-empty-payload": lambda c: (["decode", _s(c.bomb()), "-o", _s(c.path("o.png"))], [c.path("o.png")]),
    "huge-declared-size-with-the-limit-raised": lambda c: (
        ["decode", _s(c.bomb(side=16384)), "-o", _s(c.path("o.png")), "--max-pixels", str(1 << 28)],
        [c.path("o.png")],
    ),
}

INFO = {
    "png-input": lambda c: (["info", _s(c.png())], []),
    "empty-file": lambda c: (["info", _s(c.file("e.rdc"))], []),
    "directory": lambda c: (["info", _s(c.folder("d"))], []),
    "missing-file": lambda c: (["info", _s(c.path("nope.rdc"))], []),
    "truncated-stream": lambda c: (["info", _s(c.file("t.rdc", c.rdc().read_bytes()[:20]))], []),
}

MODELS = {
    "no-models": lambda c: (c.manifest({"models": []}) and ["models"], []),
    "empty-directory": lambda c: (c.env.update(RDCODEC_MODELS_DIR=_s(c.folder("none"))) or ["models"], []),
    "manifest-not-json": lambda c: (c.manifest('{"models": [') and ["models"], []),
    "manifest-not-an-object": lambda c: (c.manifest([1, 2]) and ["models", "--json"], []),
    "entry-lacks-fields": lambda c: (c.manifest({"models": [{"id": "x"}]}) and ["models"], []),
    "entry-of-wrong-kind": lambda c: (c.manifest({"models": ["x"]}) and ["models"], []),
}

_RD = ["--models", "none", "--baselines", "none"]

RD_CURVE = {
    "no-output": lambda c: (["rd-curve", _s(c.png()), *_RD], []),
    "same-output-twice": lambda c: (
        ["rd-curve", _s(c.png()), *_RD, "-o", _s(c.path("r.json")), "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "existing-output": lambda c: (["rd-curve", _s(c.png()), *_RD, "--json", _s(c.keep("r.json"))], []),
    "no-images": lambda c: (["rd-curve", _s(c.folder("empty")), *_RD, "--json", _s(c.path("r.json"))], [c.path("r.json")]),
    "unreadable-image": lambda c: (
        ["rd-curve", _s(c.file("bad.png", "not an image")), *_RD, "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "missing-image": lambda c: (["rd-curve", _s(c.path("nope.png")), *_RD, "--json", _s(c.path("r.json"))], [c.path("r.json")]),
    "same-image-name-twice": lambda c: (
        ["rd-curve", _s(c.png()), _s(c.png("sub/in.png")), *_RD, "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "unknown-model": lambda c: (
        ["rd-curve", _s(c.png()), "--models", "nonexistent", "--baselines", "none", "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "unknown-baseline": lambda c: (
        ["rd-curve", _s(c.png()), "--models", "none", "--baselines", "gif", "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "qualities-not-integers": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            "--models",
            "none",
            "--baselines",
            "jpeg",
            "--qualities",
            "20,x",
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "quality-out-of-range": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            "--models",
            "none",
            "--baselines",
            "jpeg",
            "--qualities",
            "101",
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "reference-missing": lambda c: (
        ["rd-curve", _s(c.png()), *_RD, "--reference", _s(c.path("nope.json")), "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "reference-not-json": lambda c: (
        ["rd-curve", _s(c.png()), *_RD, "--reference", _s(c.file("ref.json", '{"results": ')), "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "reference-not-an-object": lambda c: (
        ["rd-curve", _s(c.png()), *_RD, "--reference", _s(c.file("ref.json", "[1, 2]")), "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "reference-without-results": lambda c: (
        ["rd-curve", _s(c.png()), *_RD, "--reference", _s(c.file("ref.json", '{"name": "x"}')), "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
    "reference-without-bpp": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(c.file("ref.json", '{"results": {"psnr": [30]}}')),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "reference-bpp-not-numbers": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(c.file("ref.json", '{"results": {"bpp": "abc", "psnr": [1, 2, 3]}}')),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "reference-columns-differ": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(c.file("ref.json", '{"results": {"bpp": [0.1, 0.2], "psnr": [30]}}')),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "reference-without-quality": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(c.file("ref.json", '{"results": {"bpp": [0.1, 0.2]}}')),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "report-curve-malformed": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(
                c.file(
                    "ref.json",
                    json.dumps(
                        {"schema": "rdcodec.rd-curve/1", "images": [{"name": "in.png"}], "curves": [{"kind": "baseline"}]}
                    ),
                )
            ),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "report-point-malformed": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(
                c.file(
                    "ref.json",
                    json.dumps(
                        {
                            "schema": "rdcodec.rd-curve/1",
                            "images": [{"name": "in.png"}],
                            "curves": [{"name": "jpeg", "kind": "baseline", "points": [{"bpp": 1}]}],
                        }
                    ),
                )
            ),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "report-of-other-images": lambda c: (
        [
            "rd-curve",
            _s(c.png()),
            *_RD,
            "--reference",
            _s(c.file("ref.json", json.dumps({"schema": "rdcodec.rd-curve/1", "images": [{"name": "other.png"}], "curves": []}))),
            "--json",
            _s(c.path("r.json")),
        ],
        [c.path("r.json")],
    ),
    "malformed-manifest": lambda c: (
        c.manifest({"models": [{"id": "x"}]})
        and ["rd-curve", _s(c.png()), "--baselines", "none", "--json", _s(c.path("r.json"))],
        [c.path("r.json")],
    ),
}

_AN = ["--crop", "32", "--top", "2"]

ANALYZE = {
    "unknown-metric": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN, "--metric", "psnr"],
        [c.path("out")],
    ),
    "crop-zero": lambda c: (["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), "--crop", "0"], [c.path("out")]),
    "top-zero": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), "--crop", "32", "--top", "0"],
        [c.path("out")],
    ),
    "delta-zero": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN, "--delta", "0"],
        [c.path("out")],
    ),
    "ms-ssim-on-a-small-crop": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN, "--metric", "ms-ssim"],
        [c.path("out")],
    ),
    "image-smaller-than-crop": lambda c: (
        ["analyze", _s(c.png("a.png", 20, 20)), "-o", _s(c.path("out")), *_AN],
        [c.path("out")],
    ),
    "missing-image": lambda c: (["analyze", _s(c.path("nope.png")), "-o", _s(c.path("out")), *_AN], [c.path("out")]),
    "unreadable-image": lambda c: (["analyze", _s(c.file("bad.png", "text")), "-o", _s(c.path("out")), *_AN], [c.path("out")]),
    "no-images": lambda c: (["analyze", _s(c.folder("empty")), "-o", _s(c.path("out")), *_AN], [c.path("out")]),
    "unknown-model": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN, "-m", "nonexistent"],
        [c.path("out")],
    ),
    "missing-checkpoint": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN, "--checkpoint", _s(c.path("nope.pt"))],
        [c.path("out")],
    ),
    "random-bytes-checkpoint": lambda c: (
        [
            "analyze",
            _s(c.png("a.png", 40, 40)),
            "-o",
            _s(c.path("out")),
            *_AN,
            "--checkpoint",
            _s(c.file("r.pt", os.urandom(256))),
        ],
        [c.path("out")],
    ),
    "json-checkpoint": lambda c: (
        [
            "analyze",
            _s(c.png("a.png", 40, 40)),
            "-o",
            _s(c.path("out")),
            *_AN,
            "--checkpoint",
            _s(c.file("r.pt", '{"model": 1}')),
        ],
        [c.path("out")],
    ),
    "model-and-checkpoint": lambda c: (
        ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN, "-m", "tiny", "--checkpoint", _s(c.checkpoint())],
        [c.path("out")],
    ),
    "output-is-a-file": lambda c: (["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.keep("out")), *_AN], []),
    "earlier-analysis-without-force": lambda c: (
        c.keep("out/analysis.json", "{}") and ["analyze", _s(c.png("a.png", 40, 40)), "-o", _s(c.path("out")), *_AN],
        [c.path("out/energy.png")],
    ),
}


def _TRAIN(c: Case) -> list[str]:
    return ["train", "--run-dir", _s(c.path("run"))]


TRAIN = {
    "missing-config": lambda c: ([*_TRAIN(c), "--config", _s(c.path("missing.json"))], [c.path("run")]),
    "malformed-json": lambda c: ([*_TRAIN(c), "--config", _s(c.config('{"steps": '))], [c.path("run")]),
    "config-not-an-object": lambda c: ([*_TRAIN(c), "--config", _s(c.config([1, 2]))], [c.path("run")]),
    "unknown-key": lambda c: (
        [*_TRAIN(c), "--config", _s(c.config({"train_dirs": [str(SAMPLES)], "bogus": 1}))],
        [c.path("run")],
    ),
    "unknown-nested-key": lambda c: (
        [*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}"]', "--set", "network.bogus=1"],
        [c.path("run")],
    ),
    "set-without-equals": lambda c: ([*_TRAIN(c), "--set", "foo"], [c.path("run")]),
    "set-without-key": lambda c: ([*_TRAIN(c), "--set", "=1"], [c.path("run")]),
    "no-train-dirs": lambda c: (_TRAIN(c), [c.path("run")]),
    "bad-crop": lambda c: ([*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}"]', "--set", "crop=30"], [c.path("run")]),
    "bad-metric": lambda c: (
        [*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}"]', "--set", "objective.metric=psnr"],
        [c.path("run")],
    ),
    "bad-value-type": lambda c: ([*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}"]', "--set", "steps=many"], [c.path("run")]),
    "train-dirs-not-a-list": lambda c: ([*_TRAIN(c), "--set", f"train_dirs={SAMPLES}"], [c.path("run")]),
    "train-dirs-empty-list": lambda c: ([*_TRAIN(c), "--set", "train_dirs=[]"], [c.path("run")]),
    "train-dir-missing": lambda c: ([*_TRAIN(c), "--set", f'train_dirs=["{c.path("nope")}"]'], [c.path("run")]),
    "train-dir-without-images": lambda c: ([*_TRAIN(c), "--set", f'train_dirs=["{c.folder("empty")}"]'], [c.path("run")]),
    "train-dir-is-a-file": lambda c: ([*_TRAIN(c), "--set", f'train_dirs=["{c.png()}"]'], [c.path("run")]),
    "one-of-two-train-dirs-missing": lambda c: (
        [*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}", "{c.path("nope")}"]'],
        [c.path("run")],
    ),
    "images-smaller-than-crop": lambda c: (
        c.png("small/a.png", 40, 40) and [*_TRAIN(c), "--set", f'train_dirs=["{c.path("small")}"]'],
        [c.path("run")],
    ),
    "val-dir-missing": lambda c: (
        [*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}"]', "--set", f"val_dir={c.path('nope')}"],
        [c.path("run")],
    ),
    "init-from-missing": lambda c: (
        [*_TRAIN(c), "--set", f'train_dirs=["{SAMPLES}"]', "--set", f"init_from={c.path('nope.pt')}"],
        [c.path("run")],
    ),
    "run-dir-is-a-file": lambda c: (["train", "--run-dir", _s(c.keep("run")), "--set", f'train_dirs=["{SAMPLES}"]'], []),
}


def _EXPORT(c: Case, ckpt: Path, model_id: str = "new") -> list[str]:
    return ["export", _s(ckpt), "--id", model_id, "--models-dir", _s(c.own_registry())]


EXPORT = {
    "missing-checkpoint": lambda c: (_EXPORT(c, c.path("nope.pt")), []),
    "checkpoint-is-a-directory": lambda c: (_EXPORT(c, c.folder("d")), []),
    "random-bytes": lambda c: (_EXPORT(c, c.file("r.pt", os.urandom(512))), []),
    "json-file": lambda c: (_EXPORT(c, c.file("r.pt", '{"model": {}, "step": 1}')), []),
    "empty-file": lambda c: (_EXPORT(c, c.file("r.pt")), []),
    "id-already-registered": lambda c: (_EXPORT(c, c.checkpoint(), model_id="tiny"), []),
    "id-with-a-slash": lambda c: (_EXPORT(c, c.checkpoint(), model_id="a/b"), []),
    "id-empty": lambda c: (_EXPORT(c, c.checkpoint(), model_id=""), []),
    "id-too-long": lambda c: (_EXPORT(c, c.checkpoint(), model_id="x" * 65), []),
    "id-not-ascii": lambda c: (_EXPORT(c, c.checkpoint(), model_id="modèle"), []),
    "step-zero": lambda c: ([*_EXPORT(c, c.checkpoint()), "--step", "0"], []),
    "models-dir-is-a-file": lambda c: (
        ["export", _s(c.checkpoint()), "--id", "new", "--models-dir", _s(c.keep("models-file"))],
        [],
    ),
    "models-dir-under-a-file": lambda c: (
        ["export", _s(c.checkpoint()), "--id", "new", "--models-dir", _s(c.keep("models-file")) + "/sub"],
        [],
    ),
    "malformed-manifest": lambda c: (
        ["export", _s(c.checkpoint()), "--id", "new", "--models-dir", _s(c.manifest('{"models": '))],
        [],
    ),
}

# What each case's one line must say: a case that fails for another reason than its name fails.
EXPECTED = {
    "encode-missing-input": "nope.png: no such file",
    "encode-input-is-a-directory": "d: is a directory",
    "encode-empty-input": "e.png is not a readable image",
    "encode-not-an-image": "t.png is not a readable image",
    "encode-truncated-png": "image file is truncated",
    "encode-existing-output": "o.rdc exists (use --force",
    "encode-output-folder-missing": "no/dir: no such directory",
    "encode-output-is-a-directory": "outdir: is a directory",
    "encode-unknown-model": "unknown model 'nonexistent'",
    "encode-model-and-quality": "give --model or --quality, not both",
    "encode-no-such-quality": "no ssim model for quality 9",
    "encode-no-ladder-for-quality": "no ssim ladder is installed",
    "encode-metric-without-quality": "--metric selects a ladder: give it with --quality",
    "encode-negative-search": "Invalid value for '--search'",
    "encode-search-without-objective": "--search cannot be used with it",
    "encode-manifest-entry-with-unknown-metric": "metric must be one of",
    "encode-malformed-manifest": "not a model manifest (not valid JSON)",
    "encode-unknown-option": "No such option '--bogus'",
    "encode-missing-output-option": "Missing option '-o'",
    "encode-over-max-pixels": "1961 pixels, over the limit of 1000",
    "encode-flat-9000-square-png": "81000000 pixels, over the limit",
    "encode-metric-without-a-ladder": "no ms-ssim ladder is installed",
    "encode-unknown-metric": "no psnr ladder is installed",
    "encode-max-pixels-zero": "Invalid value for '--max-pixels'",
    "decode-missing-input": "nope.rdc: no such file",
    "decode-input-is-a-directory": "d: is a directory",
    "decode-empty-input": "not an rdcodec file (too short)",
    "decode-png-input": "not an rdcodec file (wrong magic bytes)",
    "decode-truncated-stream": "file is truncated",
    "decode-lossy-output-suffix": "decode writes lossless images",
    "decode-existing-output": "o.png exists (use --force",
    "decode-missing-reference": "nope.png: no such file",
    "decode-reference-of-another-size": "--reference is 20x20",
    "decode-model-not-installed": "which is not installed",
    "decode-over-max-pixels": "1961 pixels, over the limit of 1000",
    "decode-declared-size-over-the-default-limit": "header declares 16384×16384",
    "decode-huge-declared-size-empty-payload": "payload is damaged: 0 bytes cannot hold",
    "decode-huge-declared-size-with-the-limit-raised": "payload is damaged: 0 bytes cannot hold",
    "info-png-input": "not an rdcodec file (wrong magic bytes)",
    "info-empty-file": "not an rdcodec file (too short)",
    "info-directory": "d: is a directory",
    "info-missing-file": "nope.rdc: no such file",
    "info-truncated-stream": "file is truncated",
    "models-no-models": "no models found",
    "models-empty-directory": "no models found",
    "models-manifest-not-json": "not a model manifest (not valid JSON)",
    "models-manifest-not-an-object": "not a model manifest (no list of model entries)",
    "models-entry-lacks-fields": "model entry 1 lacks name",
    "models-entry-of-wrong-kind": "not a model manifest",
    "rd-curve-no-output": "give -o PLOT.png and/or --json FILE",
    "rd-curve-same-output-twice": "-o and --json name the same file",
    "rd-curve-existing-output": "r.json exists (use --force",
    "rd-curve-no-images": "no images found",
    "rd-curve-unreadable-image": "bad.png is not a readable image",
    "rd-curve-missing-image": "nope.png: no such file",
    "rd-curve-same-image-name-twice": "two images are named in.png",
    "rd-curve-unknown-model": "unknown model 'nonexistent'",
    "rd-curve-unknown-baseline": "unknown baseline 'gif'",
    "rd-curve-qualities-not-integers": "--qualities expects comma-separated integers",
    "rd-curve-quality-out-of-range": "--qualities must lie in 0…100",
    "rd-curve-reference-missing": "nope.json: no such file",
    "rd-curve-reference-not-json": "ref.json: not valid JSON",
    "rd-curve-reference-not-an-object": "ref.json: a JSON object is expected",
    "rd-curve-reference-without-results": "ref.json: not a curve file",
    "rd-curve-reference-without-bpp": "ref.json: not a curve file",
    "rd-curve-reference-bpp-not-numbers": "ref.json: not a curve file",
    "rd-curve-reference-columns-differ": "results.psnr is not a list of 2 numbers",
    "rd-curve-reference-without-quality": "results has no psnr, ssim or ms-ssim column",
    "rd-curve-report-curve-malformed": "a curve lacks its name, kind or points",
    "rd-curve-report-point-malformed": "curve 'jpeg' has a malformed point",
    "rd-curve-report-of-other-images": "its curves were measured on other images",
    "rd-curve-malformed-manifest": "model entry 1 lacks name",
    "analyze-unknown-metric": "Invalid value for '--metric'",
    "analyze-crop-zero": "Invalid value for '--crop'",
    "analyze-top-zero": "Invalid value for '--top'",
    "analyze-delta-zero": "Invalid value for '--delta'",
    "analyze-ms-ssim-on-a-small-crop": "ms-ssim needs a crop over 160 pixels",
    "analyze-image-smaller-than-crop": "a.png is smaller than the 32x32 analysis crop",
    "analyze-missing-image": "nope.png",
    "analyze-unreadable-image": "bad.png is not a readable image",
    "analyze-no-images": "no images found",
    "analyze-unknown-model": "unknown model 'nonexistent'",
    "analyze-missing-checkpoint": "nope.pt: no such file",
    "analyze-random-bytes-checkpoint": "r.pt: not a training checkpoint",
    "analyze-json-checkpoint": "r.pt: not a training checkpoint",
    "analyze-model-and-checkpoint": "give --model or --checkpoint, not both",
    "analyze-output-is-a-file": "Invalid value for '-o' / '--output'",
    "analyze-earlier-analysis-without-force": "analysis.json exists (use --force",
    "train-missing-config": "missing.json: no such file",
    "train-malformed-json": "config.json: not valid JSON",
    "train-config-not-an-object": "config.json: a JSON object is expected",
    "train-unknown-key": "unknown training option: bogus",
    "train-unknown-nested-key": "unknown network option: bogus",
    "train-set-without-equals": "--set expects KEY=VALUE, got 'foo'",
    "train-set-without-key": "--set expects KEY=VALUE, got '=1'",
    "train-no-train-dirs": "train_dirs is required",
    "train-bad-crop": "crop must be a multiple of 16",
    "train-bad-metric": "metric must be one of",
    "train-bad-value-type": "steps must be a non-negative integer",
    "train-train-dirs-not-a-list": "train_dirs must be a list",
    "train-train-dirs-empty-list": "train_dirs is empty",
    "train-train-dir-missing": "nope: no such folder",
    "train-train-dir-without-images": "empty: no images in this folder",
    "train-train-dir-is-a-file": "in.png: not a folder",
    "train-one-of-two-train-dirs-missing": "nope: no such folder",
    "train-images-smaller-than-crop": "no training image is at least 128x128",
    "train-val-dir-missing": "val_dir:",
    "train-init-from-missing": "init_from:",
    "train-run-dir-is-a-file": "Invalid value for '--run-dir'",
    "export-missing-checkpoint": "nope.pt: no such file",
    "export-checkpoint-is-a-directory": "is a directory",
    "export-random-bytes": "r.pt: not a training checkpoint",
    "export-json-file": "r.pt: not a training checkpoint",
    "export-empty-file": "r.pt: not a training checkpoint",
    "export-id-already-registered": "model 'tiny' is already registered",
    "export-id-with-a-slash": "--id 'a/b': a model id is",
    "export-id-empty": "--id '': a model id is",
    "export-id-too-long": "a model id is 1…64 characters",
    "export-id-not-ascii": "--id 'modèle': a model id is",
    "export-step-zero": "Invalid value for '--step'",
    "export-models-dir-is-a-file": "models-file is not a folder",
    "export-models-dir-under-a-file": "models-file is not a folder",
    "export-malformed-manifest": "not a model manifest (not valid JSON)",
}

CASES = [
    pytest.param(builder, EXPECTED[f"{command}-{name}"], id=f"{command}-{name}")
    for command, table in (
        ("encode", ENCODE),
        ("decode", DECODE),
        ("info", INFO),
        ("models", MODELS),
        ("rd-curve", RD_CURVE),
        ("analyze", ANALYZE),
        ("train", TRAIN),
        ("export", EXPORT),
    )
    for name, builder in table.items()
]


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def assert_contract(result, tmp_path: Path, outputs=(), before=None, kept=None):
    """One ``rdcodec: error:`` line on stderr, exit status 2, no traceback, nothing written."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR_PREFIX) and len(lines[0]) > len(ERROR_PREFIX), lines[0]
    assert "Traceback" not in result.output
    for path in outputs:
        assert not Path(path).exists(), f"{path} was written"
    assert not list(tmp_path.rglob("*.partial")), "a partial file was left behind"
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    for path, data in (kept or {}).items():
        assert path.read_bytes() == data, f"{path} was changed"
    if before is not None:
        assert _snapshot(tmp_path) == before, "the command created or changed files"


@pytest.fixture
def fake_training(monkeypatch):
    """``rdcodec train`` must fail before training starts; were it to start, this records it."""
    import rdcodec.train

    started = []
    monkeypatch.setattr(rdcodec.train, "train", lambda cfg, run_dir, progress=True: started.append((cfg, run_dir)), raising=False)
    return started


@pytest.mark.parametrize(("build", "message"), CASES)
def test_bad_input_is_one_error_line(build, message, tmp_path, tiny_registry, models_env, monkeypatch, fake_training):
    case = Case(tmp_path, tiny_registry.directory)
    args, outputs = build(case)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(main, args)
    assert_contract(result, tmp_path, outputs, before, case.kept)
    assert message in result.stderr, f"{result.stderr.strip()!r} does not say {message!r}"
    assert not fake_training, "training started"


# -- beyond argument checks: failures while working leave nothing behind -----------------------


@pytest.mark.parametrize("name", ["holiday photo.png", "scan.tif"])
def test_an_unreadable_image_is_named_in_the_message(name, tmp_path, models_env):
    bad = tmp_path / name
    bad.write_bytes(b"not an image at all")
    result = CliRunner().invoke(main, ["encode", str(bad), "-o", str(tmp_path / "o.rdc")])
    assert result.exit_code == 2 and str(bad) in result.stderr and "BytesIO" not in result.stderr


def test_metric_names_the_installed_ladders(tmp_path, monkeypatch):
    monkeypatch.delenv("RDCODEC_MODELS_DIR", raising=False)  # the shipped models: ssim and mse ladders
    image = tmp_path / "in.png"
    Image.fromarray(synthetic_image(20, 20)).save(image)
    result = CliRunner().invoke(main, ["encode", str(image), "-o", str(tmp_path / "o.rdc"), "-q", "1", "--metric", "ms-ssim"])
    assert result.exit_code == 2 and "no ms-ssim ladder is installed (ladders: mse, ssim)" in result.stderr
    assert not (tmp_path / "o.rdc").exists()


def test_export_write_failure_removes_what_it_wrote(tmp_path, tiny_registry, monkeypatch):
    from rdcodec.zoo.registry import Registry

    case = Case(tmp_path, tiny_registry.directory)
    ckpt = case.checkpoint()
    reg = case.own_registry()
    before = _snapshot(tmp_path)

    def refuse(self, entries):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Registry, "write_manifest", refuse)
    result = CliRunner().invoke(main, ["export", str(ckpt), "--id", "new", "--models-dir", str(reg)])
    assert_contract(result, tmp_path, before=before)
    assert "Permission denied" in result.stderr


def test_export_unwritable_models_dir(tmp_path, tiny_registry, monkeypatch):
    import rdcodec.cli.training

    case = Case(tmp_path, tiny_registry.directory)
    ckpt = case.checkpoint()
    reg = case.own_registry()
    before = _snapshot(tmp_path)
    writable = os.access
    monkeypatch.setattr(
        rdcodec.cli.training.os, "access", lambda path, mode, **kw: False if Path(path) == reg else writable(path, mode, **kw)
    )
    result = CliRunner().invoke(main, ["export", str(ckpt), "--id", "new", "--models-dir", str(reg)])
    assert_contract(result, tmp_path, before=before)
    assert "not writable" in result.stderr


def test_export_force_replaces_a_registered_id(tmp_path, tiny_registry):
    from rdcodec.zoo.registry import Registry

    case = Case(tmp_path, tiny_registry.directory)
    reg = case.own_registry()
    r = CliRunner().invoke(main, ["export", str(case.checkpoint()), "--id", "tiny", "--models-dir", str(reg), "--force"])
    assert r.exit_code == 0, r.output
    # the replaced entry, and its network's grid entry for format version 2
    assert sorted(e.id for e in Registry(reg).entries()) == ["tiny", "tiny-grid"]


def test_analysis_failure_writes_nothing(tmp_path, models_env, monkeypatch):
    import rdcodec.analysis.figures

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(rdcodec.analysis.figures, "isometry_figure", broken)
    image = Case(tmp_path, models_env.directory).png("a.png", 40, 40)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["analyze", str(image), "-o", str(out), *_AN])
    assert isinstance(result.exception, RuntimeError)  # a bug, not a bad input: its traceback is kept
    assert not out.exists()
    assert not list(tmp_path.rglob("*.partial"))


def test_analysis_into_an_existing_folder_and_force(tmp_path, models_env):
    image = Case(tmp_path, models_env.directory).png("a.png", 40, 40)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a folder of other files is fine
    assert CliRunner().invoke(main, ["analyze", str(image), "-o", str(out), *_AN]).exit_code == 0
    first = (out / "analysis.json").read_bytes()
    result = CliRunner().invoke(main, ["analyze", str(image), "-o", str(out), *_AN])
    assert_contract(result, tmp_path)
    assert "--force" in result.stderr and (out / "analysis.json").read_bytes() == first
    result = CliRunner().invoke(main, ["analyze", str(image), "-o", str(out), *_AN, "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["analysis.json", "energy.png", "isometry.png", "notes.txt", "traversal.png"]


def test_a_valid_training_config_reaches_training(tmp_path, fake_training):
    result = CliRunner().invoke(
        main, ["train", "--run-dir", str(tmp_path / "run"), "--set", f'train_dirs=["{SAMPLES}"]', "--set", "steps=1"]
    )
    assert result.exit_code == 0, result.output
    assert len(fake_training) == 1 and fake_training[0][0].train_dirs == [str(SAMPLES)]


def test_a_run_directory_another_process_trains_is_refused(tmp_path):
    """Two processes in one run directory would resume from one checkpoint and overwrite each
    other's; the second is refused before it loads or writes anything (a paused run holds its lock)."""
    from rdcodec.train.run_lock import holding

    run = tmp_path / "run"
    args = ["train", "--run-dir", str(run), "--set", f'train_dirs=["{SAMPLES}"]', "--set", "steps=1", "--no-progress"]
    args += ["--set", "network.N=8", "--set", "network.M=8", "--set", "batch_size=1", "--set", "compile=false"]
    with holding(run):
        result = CliRunner().invoke(main, args)
        assert_contract(result, tmp_path, outputs=[run / "checkpoint.pt", run / "log.jsonl"])
        assert "another process" in result.stderr
    result = CliRunner().invoke(main, [*args, "--set", "val_every=0"])  # released: it trains
    assert result.exit_code == 0, result.output
    assert (run / "checkpoint.pt").exists()


def test_the_reference_loader_raises_one_error_type(tmp_path):
    from rdcodec.eval.rd_curve import ReferenceFileError, load_reference

    bad = tmp_path / "ref.json"
    for text in ("[", "[]", "{}", '{"results": []}', '{"results": {"bpp": [1], "psnr": ["x"]}}'):
        bad.write_text(text)
        with pytest.raises(ReferenceFileError) as info:
            load_reference(bad)
        assert "\n" not in str(info.value) and str(bad) in str(info.value)
    good = tmp_path / "pub.json"
    good.write_text(json.dumps({"results": {"bpp": [0.1, 0.2], "psnr-rgb": [30, 32]}}))
    (curve,) = load_reference(good)
    assert curve.name == "ref:pub" and [p.psnr for p in curve.points] == [30, 32] and curve.points[0].ssim is None


def test_search_arguments_are_checked():
    import torch

    from rdcodec.search import SearchError, search_symbols

    net = make_tiny_network(0)
    x = torch.zeros(1, 3, 16, 16)
    medians = torch.zeros(net.config.M)
    for kwargs in (
        {"iterations": -1},
        {"iterations": 1.5},
        {"metric": "psnr"},
        {"lambda1": -1.0},
        {"check_every": 0},
        {"lr": 0.0},
    ):
        args = {"metric": "mse", "lambda1": 1.0, "iterations": 1, **kwargs}
        with pytest.raises(SearchError):
            search_symbols(net, x, medians, 1.0, **args)
    with pytest.raises(SearchError):
        search_symbols(net, x, medians, 0.0, metric="mse", lambda1=1.0, iterations=1)


def test_tools_do_not_import_cli_internals():
    root = Path(__file__).resolve().parent.parent / "tools" / "experiments"
    for name in ("anomaly.py", "toy_density.py", "anomaly_threshold_bound.py"):
        assert "rdcodec.cli" not in (root / name).read_text(), name


def test_samples_are_there():
    assert (SAMPLES / "chelsea.png").is_file()  # the train cases use samples/ as a real image folder
