"""The `nnlab` command: a Typer app with one thin module per stage."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="nnlab",
    help="Stages for studying and compressing image classifiers: train, separation index, truncation, detection, robustness.",
    no_args_is_help=True,
    add_completion=False,
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
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
