"""The typer application every command module registers on, and the one error path.

Every error a user can cause, whether dse's own (DseError) or the parser's (a bad value, an unknown option, a
missing argument), ends the same way: one line `error: ...` on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from dse import __version__
from dse.cli.options import library_default
from dse.errors import DseError

STARTED = time.monotonic()
"""When the command line began (its first module imported): a command's own start-up is measured from here."""

ORDER = ("arch", "train", "bench", "check", "sweep", "search", "report", "dashboard")
"""Commands in the order of the workflow, which is the order `dse --help` lists them in."""

console = Console()
if not console.is_terminal:  # piped or captured: wide enough for the layer table, not clipped at 80 columns
    console = Console(width=120)
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, markup=True)
    return typer.Exit(code)


def click_exception_type() -> type[Exception]:
    """The base class of the parser's errors (click's ClickException).

    Found through typer's public BadParameter rather than imported: typer 0.29 vendors click as
    `typer._click`, older typers (0.12 - 0.16) use the `click` package. Checked with typer 0.29.2.
    """
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    raise RuntimeError("typer.BadParameter does not derive from ClickException")  # pragma: no cover


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _literal(obj) -> None:
    """Help shown as written: typer reads help text as rich markup, where `[default: x]` or `[red]` would vanish.
    Escaped once per object (help may be drawn again from the same objects)."""
    if getattr(obj, "help", None) and not getattr(obj, "_dse_literal", False):
        obj.help = escape(obj.help)
        obj._dse_literal = True


def _help_ready(command, ctx) -> None:
    """Before help is drawn: help text is literal (no markup), flags get no `<bool>` type column, and options whose
    default is None ("the library's default") show that default: given in words (show_default="...", shown
    without typer's parentheses) or computed from the code (`dse.cli.options.library_default`)."""
    _literal(command)
    for sub in getattr(command, "commands", {}).values():  # a group lists its commands' help
        _literal(sub)
    for param in command.get_params(ctx):
        _literal(param)
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        if getattr(param, "param_type_name", "") == "option" and param.default is None:
            shown = param.show_default if isinstance(param.show_default, str) else library_default(param.name)
            if shown is not None:  # a default in words (show_default="...") or the library's
                param.default, param.show_default = shown, True


class DseCommand(TyperCommand):
    """A command whose help shows the library's defaults and no `<bool>` metavars."""

    def format_help(self, ctx, formatter) -> None:
        _help_ready(self, ctx)
        super().format_help(ctx, formatter)


class DseGroup(TyperGroup):
    """`dse`: commands in workflow order; every parse error as one line and exit 2."""

    def list_commands(self, ctx) -> list[str]:
        names = list(super().list_commands(ctx))
        return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]

    def format_help(self, ctx, formatter) -> None:
        _help_ready(self, ctx)
        super().format_help(ctx, formatter)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        usage_error = click_exception_type()
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except usage_error as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # plain `dse`: its help
                typer.echo(ctx.get_help())
                code = 0
            else:
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                err_console.print(f"[bold red]error:[/] {escape(_one_line(exc.format_message()))}{escape(hint)}",
                                  highlight=False, soft_wrap=True)
                code = getattr(exc, "exit_code", 2) or 2
            if not standalone_mode:
                raise
            sys.exit(code)
        except typer.Abort:
            if not standalone_mode:
                raise
            err_console.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)  # typer returns an Exit's code when not standalone


app = typer.Typer(
    name="dse",
    cls=DseGroup,
    help="Explore the design space of small CNNs (SqueezeNet-style): what accuracy each megabyte buys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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

        app.command(name, cls=DseCommand, **kwargs)(run)
        return func

    return register


def _version(value: bool) -> None:
    if value:
        console.print(f"dse {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Explore the design space of small CNNs (SqueezeNet-style): what accuracy each megabyte buys."""
