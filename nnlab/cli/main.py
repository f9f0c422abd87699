"""The `nnlab` command: a Typer app with one thin module per stage."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from nnlab import __version__

app = typer.Typer(
    name="nnlab",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# (command name, module under nnlab.cli, function name); order = order in --help
COMMANDS = [
    ("train", "train", "train"),
    ("evaluate", "evaluate", "evaluate"),
    ("extract-features", "extract_features", "extract_features"),
    ("si-profile", "si_profile", "si_profile"),
    ("rank-features", "rank_features", "rank_features"),
    ("truncate", "truncate", "truncate"),
    ("fit-head", "fit_head", "fit_head"),
    ("compare", "compare", "compare"),
    ("make-scenes", "make_scenes", "make_scenes"),
    ("propose-regions", "propose_regions", "propose_regions"),
    ("detect", "detect", "detect"),
    ("attack", "attack", "attack"),
    ("embed", "embed", "embed"),
    ("summarize", "summarize", "summarize"),
    ("inspect", "inspect_cmd", "inspect"),
    ("models", "catalog", "models"),
    ("datasets", "catalog", "datasets"),
]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"nnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            is_eager=True,
            expose_value=True,
            callback=_show_version,
            help="Print the nnlab version and exit.",
        ),
    ] = False,
) -> None:
    """Stages for studying and compressing image classifiers: train, separation index, truncation, detection,
    robustness.

    Shell completion: `nnlab --install-completion` (bash, zsh, fish, PowerShell), then open a new shell.
    Options set once per machine read NNLAB_DEVICE, NNLAB_NUM_WORKERS and NNLAB_DATA.
    """


def _register() -> None:
    for name, module_name, fn_name in COMMANDS:
        try:
            module = importlib.import_module(f"nnlab.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nnlab.cli.{module_name}":
                continue
            raise
        fn = getattr(module, fn_name)
        app.command(name, epilog=getattr(module, "EXAMPLES", None), help=(fn.__doc__ or "").strip())(fn)


_register()


def main() -> None:
    """Console-script entry point (also `python -m nnlab`, which completes and names itself as `nnlab`)."""
    app(prog_name="nnlab")


if __name__ == "__main__":
    main()
