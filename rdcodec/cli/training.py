"""``rdcodec train`` and ``rdcodec export``."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import click

from rdcodec.cli.files import CommandError, fail, open_registry


def _check_image_folder(folder: str, option: str) -> list[Path]:
    from rdcodec.image_io import list_images

    p = Path(folder)
    if not p.exists():
        raise CommandError(f"{option}: {folder}: no such folder")
    if not p.is_dir():
        raise CommandError(f"{option}: {folder}: not a folder")
    images = list_images(p)
    if not images:
        raise CommandError(f"{option}: {folder}: no images in this folder")
    return images


def _check_training_data(cfg) -> None:
    """What the run will read, checked before it starts (and before the run directory is made)."""
    from PIL import Image, UnidentifiedImageError

    if not cfg.train_dirs:
        raise CommandError("train_dirs is empty: give at least one folder of training images")
    images = [im for d in cfg.train_dirs for im in _check_image_folder(d, "train_dirs")]
    for path in images:  # the run keeps images at least crop × crop; stop at the first one
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (OSError, UnidentifiedImageError):
            raise CommandError(f"train_dirs: {path}: not an image Pillow can read") from None
        if min(width, height) >= cfg.crop:
            break
    else:
        raise CommandError(f"train_dirs: no training image is at least {cfg.crop}x{cfg.crop} (the crop)")
    if cfg.val_dir is not None:
        _check_image_folder(cfg.val_dir, "val_dir")
    if cfg.init_from is not None and not Path(cfg.init_from).is_file():
        raise CommandError(f"init_from: {cfg.init_from}: no such file")


@click.command("train")
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="JSON file of training options")
@click.option(
    "--run-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="directory for checkpoint and logs; resumes if it holds a checkpoint",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override one option (dotted keys reach network.* and objective.*)",
)
@click.option("--no-progress", is_flag=True, help="no progress bar")
def train_command(config, run_dir, overrides, no_progress):
    """Train a RaDOGAGA model (paper eq. 5); running it again resumes."""
    from rdcodec.train.heap import advise_huge_pages

    advise_huge_pages()  # before torch allocates anything (THP_MEM_ALLOC_ENABLE=0 opts out)
    from rdcodec.train import ConfigError, load_train_config

    try:
        cfg = load_train_config(config, overrides)
        _check_training_data(cfg)
    except (ConfigError, CommandError) as exc:
        fail(str(exc))
    # the training loop is imported only once the config and its data are known to be usable
    from rdcodec.train import RunDirectoryInUse, train
    from rdcodec.train.checkpoint import CheckpointError

    try:
        train(cfg, Path(run_dir), progress=not no_progress)
    except (RunDirectoryInUse, CheckpointError) as exc:
        fail(str(exc))


#: model ids go into file names and (ASCII, at most 64 bytes) into every stream's header
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def _check_model_id(model_id: str) -> None:
    from rdcodec.format.container import MAX_MODEL_ID

    if not _MODEL_ID.fullmatch(model_id) or len(model_id) > MAX_MODEL_ID:
        raise CommandError(
            f"--id {model_id!r}: a model id is 1…{MAX_MODEL_ID} characters of letters, digits and . _ + - (starting with a letter or digit)"
        )


def _check_models_dir(directory: Path) -> None:
    """The registry directory is a writable folder, or can be made as one."""
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if existing is None:
        return
    if not existing.is_dir():
        raise CommandError(f"--models-dir {directory}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CommandError(f"--models-dir {directory}: {existing} is not writable")


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--id", "model_id", required=True, help="model id written into every stream")
@click.option("--models-dir", default=None, help="registry directory (default: the installed models directory)")
@click.option("--default", "make_default", is_flag=True, help="make it the default model")
@click.option("--quality", type=int, default=None, help="quality level for encode --quality")
@click.option("--description", default="", help="one-line description")
@click.option(
    "--step",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="quantization step Δ (symbols = round((z − median) / Δ))",
)
@click.option("-f", "--force", is_flag=True, help="replace a model already registered under this id")
def export_command(checkpoint, model_id, models_dir, make_default, quality, description, step, force):
    """Freeze a training CHECKPOINT's prior into integer tables and register the model."""
    from rdcodec.train.checkpoint import CheckpointError
    from rdcodec.zoo.export import export_checkpoint, export_grid

    try:
        _check_model_id(model_id)
        if not Path(checkpoint).is_file():
            raise CommandError(f"{checkpoint}: no such file")
        registry = open_registry(models_dir)
        _check_models_dir(registry.directory)
        if not force and any(e.id == model_id for e in registry.entries()):
            raise CommandError(f"model {model_id!r} is already registered in {registry.directory} (use --force to replace it)")
    except CommandError as exc:
        fail(str(exc))
    directory = registry.directory
    existed = directory.exists()
    before = set(os.listdir(directory)) if existed else set()
    try:
        entry = export_checkpoint(
            Path(checkpoint), registry, model_id, default=make_default, quality=quality, description=description, step=step
        )
        grid = export_grid(registry, entry)  # the network's grid tables: format version 2 streams
    except CheckpointError as exc:
        fail(str(exc))
    except OSError as exc:
        _remove_new_files(directory, before, existed)
        fail(f"{directory}: cannot write the model ({exc.strerror or exc})")
    click.echo(f"exported {entry.id}: {entry.weights}, {entry.tables} (digest {entry.digest[:16]}); grid {grid.id}", err=True)


def _remove_new_files(directory: Path, before: set[str], existed: bool) -> None:
    """Undo a failed export: the files it added (the manifest is replaced atomically, or not at all)."""
    with contextlib.suppress(OSError):
        for name in set(os.listdir(directory)) - before:
            (directory / name).unlink()
        if not existed:
            directory.rmdir()
