"""Output folders (`dse report --out`, `dse export --out`): dse writes only where it cannot destroy a user's work.

A command writes into a folder that does not exist yet, an empty one, or one an earlier run of the same command
made; anywhere else it refuses (one line naming `--force`) before writing anything. A folder dse writes holds a
marker file, `.dse-output`, naming the command and every file dse wrote there: only those are ever overwritten or
deleted (a figure that no longer applies). A user's file is never deleted, and overwritten only with `--force`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dse.errors import DseError

MARKER = ".dse-output"
_HEADER = "# written by dse {kind}: the files below are dse's; it overwrites or deletes only these"
_SHOWN = 3  # a refusal names this many of the user's files


class OutputFolderError(DseError):
    """An output folder holds files dse did not write, or is not a folder."""


@dataclass(frozen=True)
class Claim:
    """A folder checked for writing: `owned` are the files dse wrote there before (the marker's list)."""

    path: Path
    kind: str  # the command, as the marker names it: "report", "export"
    owned: frozenset[str]


def read_marker(folder: Path, kind: str) -> frozenset[str] | None:
    """The files the marker of `folder` lists for `kind`; None where there is no marker of that command. A name
    that is not a plain file name (a path, `..`) is never dse's."""
    try:
        lines = (folder / MARKER).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != _HEADER.format(kind=kind):
        return None
    return frozenset(n for n in lines[1:] if n and n not in (".", "..", MARKER) and "/" not in n and "\\" not in n)


def claim(folder: Path | str, kind: str, names: Iterable[str], force: bool = False) -> Claim:
    """Check that `kind` may write the files `names` into `folder`; writes nothing. Refuses a folder holding
    files this command did not write (unless `force`), and one where a file it would write is the user's."""
    path = Path(folder)
    for parent in (path, *path.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise OutputFolderError(f"cannot write to {path}: {parent} is a file, not a folder")
            break
    if not path.exists():
        return Claim(path, kind, frozenset())
    try:
        entries = sorted(p.name for p in path.iterdir())
    except OSError as exc:
        raise OutputFolderError(f"cannot read the folder {path}: {exc.strerror or exc}") from None
    owned = read_marker(path, kind)
    if force or not entries:
        return Claim(path, kind, owned or frozenset())
    if owned is None:
        raise OutputFolderError(f"{path} is a folder dse {kind} did not make and holds files ({_some(entries)}); "
                                "give a new or empty folder, or --force to overwrite files of the same name")
    theirs = sorted(n for n in set(names) & set(entries) if n not in owned)
    if theirs:
        raise OutputFolderError(f"{path} holds files dse did not write that dse {kind} would overwrite "
                                f"({_some(theirs)}); move them, or give --force to overwrite them")
    return Claim(path, kind, owned)


def _some(names: list[str]) -> str:
    return ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


@dataclass
class Writing:
    """Files being written into a claimed folder: `file(name)` records a name in the marker before the caller
    writes it (a run killed midway leaves its files listed as dse's), and `done()` deletes the files dse wrote
    before and not this time, leaving the marker listing exactly this run's files."""

    claim: Claim
    written: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.claim.path.mkdir(parents=True, exist_ok=True)
        self._mark(self.claim.owned)

    def file(self, name: str) -> Path:
        if name not in self.written:
            self.written.append(name)
            self._mark(self.claim.owned | set(self.written))
        return self.claim.path / name

    def done(self) -> None:
        for name in sorted(self.claim.owned - set(self.written)):
            (self.claim.path / name).unlink(missing_ok=True)
        self._mark(set(self.written))

    def _mark(self, names: Iterable[str]) -> None:
        text = "\n".join([_HEADER.format(kind=self.claim.kind), *sorted(names)]) + "\n"
        tmp = self.claim.path / (MARKER + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.claim.path / MARKER)
