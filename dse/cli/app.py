"""The typer application every command module registers on, and the one error path."""

from __future__ import annotations

import functools
from collections.abc import Callable

import typer
from rich.console import Console

from dse.errors import DseError

app = typer.Typer(
    name="dse",
    help="Explore the design space of small CNNs (SqueezeNet-style): what accuracy each megabyte buys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
if not console.is_terminal:  # piped or captured: wide enough for the layer table, not clipped at 80 columns
    console = Console(width=120)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    return typer.Exit(code)


def command(name: str | None = None, **kwargs) -> Callable:
    """Register a command whose user-caused errors (DseError) become one line and a non-zero exit.

    Wrapping here rather than in `main` makes typer's CliRunner see the same exits as a shell.
    """

    def register(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args, **kw):
            try:
                return func(*args, **kw)
            except DseError as exc:
                raise fail(str(exc), exc.exit_code) from None

        app.command(name, **kwargs)(run)
        return func

    return register


def _version(value: bool) -> None:
    if value:
        from dse import __version__

        console.print(f"dse {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Explore the design space of small CNNs (SqueezeNet-style): what accuracy each megabyte buys."""
