"""`dse` command line: thin commands that parse, call the library and print.

Each command lives in its own module and registers itself on `app` through `dse.cli.app.command`,
which turns every user-caused error (DseError) into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import importlib

from dse.cli.app import app

COMMAND_MODULES = ("arch", "train", "sweep", "report")

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"dse.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command module not written yet
        if exc.name != f"dse.cli.{_name}":
            raise


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
