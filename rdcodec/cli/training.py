"""``rdcodec train`` and ``rdcodec export``."""

from __future__ import annotations

from pathlib import Path

import click

from rdcodec.cli.files import fail


@click.command("train")
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="JSON file of training options")
@click.option("--run-dir", required=True, type=click.Path(file_okay=False), help="directory for checkpoint and logs; resumes if it holds a checkpoint")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override one option (dotted keys reach network.* and objective.*)")
@click.option("--no-progress", is_flag=True, help="no progress bar")
def train_command(config, run_dir, overrides, no_progress):
    """Train a RaDOGAGA model (paper eq. 5); running it again resumes."""
    from rdcodec.train import ConfigError, load_train_config, train

    try:
        cfg = load_train_config(config, overrides)
    except ConfigError as exc:
        fail(str(exc))
    train(cfg, Path(run_dir), progress=not no_progress)


@click.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--id", "model_id", required=True, help="model id written into every stream")
@click.option("--models-dir", default=None, help="registry directory (default: the installed models directory)")
@click.option("--default", "make_default", is_flag=True, help="make it the default model")
@click.option("--quality", type=int, default=None, help="quality level for encode --quality")
@click.option("--description", default="", help="one-line description")
@click.option("--step", type=float, default=1.0, show_default=True, help="quantization step Δ (symbols = round((z − median) / Δ))")
def export_command(checkpoint, model_id, models_dir, make_default, quality, description, step):
    """Freeze a training CHECKPOINT's prior into integer tables and register the model."""
    from rdcodec.zoo.export import export_checkpoint
    from rdcodec.zoo.registry import Registry

    if not Path(checkpoint).is_file():
        fail(f"{checkpoint}: no such file")
    entry = export_checkpoint(
        Path(checkpoint), Registry(models_dir), model_id, default=make_default, quality=quality, description=description, step=step
    )
    click.echo(f"exported {entry.id}: {entry.weights}, {entry.tables} (digest {entry.digest[:16]})", err=True)
