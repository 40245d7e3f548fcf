"""`dse` command line: thin commands that parse, call the library and print.

Each command lives in its own module and registers itself on `app` through `dse.cli.app.command`,
which turns every user-caused error (DseError) into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from dse.cli import arch, check, export, report, sweep, train  # noqa: F401  (each registers its commands)
from dse.cli.app import app


def main() -> None:
    """Console-script entry point; Ctrl-C outside a sweep's own handling exits 130 without a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


__all__ = ["app", "main"]
