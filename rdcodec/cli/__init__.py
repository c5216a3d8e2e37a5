"""``rdcodec`` command line: a click group whose subcommands are imported on use.

``rdcodec --help`` imports no torch (nor the model package); each subcommand lives in
:mod:`rdcodec.cli` and pulls in what it needs when it runs.
"""

from __future__ import annotations

import importlib
import sys

import click

from rdcodec import __version__

#: subcommand name → (module, attribute, one-line help shown by ``rdcodec --help``)
SUBCOMMANDS = {
    "encode": ("rdcodec.cli.coding", "encode_command", "Compress an image into a .rdc file."),
    "decode": ("rdcodec.cli.coding", "decode_command", "Decompress a .rdc file into a PNG."),
    "info": ("rdcodec.cli.inspect", "info_command", "Show the header of a .rdc file."),
    "models": ("rdcodec.cli.inspect", "models_command", "List the installed models and their Kodak figures."),
    "analyze": ("rdcodec.cli.analyze", "analyze_command", "Latent energy, isometry and traversal figures."),
    "rd-curve": ("rdcodec.cli.curve", "rd_curve_command", "Rate-distortion curves against JPEG, WebP and AVIF."),
    "train": ("rdcodec.cli.training", "train_command", "Train a model (paper eq. 5)."),
    "export": ("rdcodec.cli.training", "export_command", "Freeze a training checkpoint into a registered model."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        module, attr, _ = SUBCOMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """As click's, but a usage error is one line on stderr (exit status 2), like every other error."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = (
                f" (see rdcodec {exc.ctx.info_name} --help)"
                if exc.ctx is not None and exc.ctx.parent is not None
                else " (see rdcodec --help)"
            )
            click.echo(f"rdcodec: error: {exc.format_message()}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"rdcodec: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def format_commands(self, ctx, formatter):
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rdcodec")
def main():
    """rdcodec: learned image compression with RaDOGAGA models.

    \b
    rdcodec encode photo.png -o photo.rdc
    rdcodec decode photo.rdc -o photo.png
    """


if __name__ == "__main__":
    main()
