"""Errors a user can cause: each carries a one-line message the CLI prints as is."""


class DseError(Exception):
    """Base of every user-facing error; the CLI prints its message and exits non-zero."""

    exit_code = 2


class DesignError(DseError):
    """A design point or its options are invalid."""


class DataError(DseError):
    """A dataset is unknown, missing or damaged."""


class StorageError(DseError):
    """A study storage path or URL cannot be used."""


class SweepError(DseError):
    """A sweep or search definition is invalid or conflicts with an existing study."""


class ReportError(DseError):
    """A report cannot be made from the given input."""


def first_line(exc: object) -> str:
    """An exception's message as one line (its first), or its type's name when it has none: what every
    `DseError` that wraps another error quotes."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
