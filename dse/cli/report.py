"""`dse report` (figures, tables and a page per study; EDFs across studies) and `dse dashboard`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from dse.cli.app import command, console
from dse.cli.options import ArtifactsOpt, ForceOpt
from dse.errors import ReportError

if TYPE_CHECKING:
    from dse.report.frame import StudyData

REPORTS_DIR = Path("reports")


@command("report")
def report(
    studies: Annotated[list[str], typer.Argument(
        metavar="STUDY", help="Study files (studies/sr.db) or storage URLs (sqlite:///..., postgresql://...).",
        show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for the report.",
        show_default="reports/<study>; with several studies reports/, one folder per study and one comparing "
        "them")] = None,
    study_name: Annotated[str | None, typer.Option(
        "--study-name", help="Report only this study of each storage.",
        show_default="every study in it")] = None,
    size: Annotated[str, typer.Option(
        "--size", metavar="fp32|int8|int4", help="The accuracy-vs-size axis: fp32 weights, or every weight at 8 "
        "or 4 bits (the paper's compression headline is at 4-8 bits).")] = "fp32",
    force: ForceOpt = False,
) -> None:
    """Write figures (PNG, SVG), results.csv, summary.md and a self-contained index.html for each study.

    A sweep gets the paper's Figure 3 layout, a search its Pareto front, a grid a heat map.

    Several studies are also compared with error EDFs.

    A report goes into a new or empty folder, or one dse report made (it holds .dse-output).
    """
    from dse.report.frame import load_studies
    from dse.report.size import SIZES
    from dse.report.write import claim_folder, write_comparison, write_report

    if size not in SIZES:
        raise ReportError(f"--size must be one of {', '.join(SIZES)}; got {size!r}")
    datas: list[StudyData] = []
    for source in studies:  # read everything first: a bad input must leave no half-written report
        datas.extend(load_studies(source, study_name))
    unique_names(datas, studies)
    if len(datas) == 1:
        targets = {datas[0].name: out or REPORTS_DIR / _safe(datas[0].name)}
        root = None
    else:
        root = out or REPORTS_DIR
        targets = {d.name: root / _safe(d.name) for d in datas}
    compare = root / _safe("compare-" + "-".join(d.name for d in datas), limit=80) if root is not None else None
    for folder in [*targets.values(), *([compare] if compare else [])]:  # every refusal before any file
        claim_folder(folder, force)

    try:
        for data in datas:
            folder = targets[data.name]
            written = write_report(data, folder, size, force)
            console.print(f"[bold]{escape(data.name)}[/]: {_describe(data)} -> {escape(str(folder))}/index.html "
                          f"({len(written)} files)", highlight=False)
        if root is not None and compare is not None:
            folder = compare
            links = {d.name: f"../{targets[d.name].relative_to(root).as_posix()}/index.html"
                     if targets[d.name].is_relative_to(root) else targets[d.name].resolve().as_uri() + "/index.html"
                     for d in datas}
            write_comparison(datas, folder, links, force)
            console.print(f"[bold]comparison[/]: error EDFs of {len(datas)} studies -> "
                          f"{escape(str(folder))}/index.html", highlight=False)
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc.strerror or exc} ({exc.filename or ''})") from None


@command("dashboard")
def dashboard(
    study: Annotated[str, typer.Argument(metavar="STUDY", help="A study file (studies/sr.db) or storage URL.",
                                         show_default=False)],
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 exposes it to the network.")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).")] = 8080,
    artifacts: ArtifactsOpt = None,
) -> None:
    """Start optuna-dashboard on a study file or storage URL (Ctrl-C stops it)."""
    from dse.report.dashboard import serve

    if not 0 <= port <= 65535:
        raise ReportError(f"--port must be between 0 and 65535; got {port}")

    def ready(url: str, storage: str) -> None:
        console.print(f"optuna-dashboard for {escape(storage)} at {url} (Ctrl-C stops it)", highlight=False,
                      soft_wrap=True)

    serve(study, host, port, ready=ready, artifacts=artifacts)


def _describe(data: StudyData) -> str:
    states = data.frame["state"].value_counts()
    done = int(states.get("COMPLETE", 0))
    return f"{data.kind}, {done} of {len(data.frame)} trials complete"


def unique_names(datas: list[StudyData], sources: list[str]) -> None:
    """Studies of the same name from different files get the file's name in front, so folders differ."""
    counts: dict[str, int] = {}
    for d in datas:
        counts[d.name] = counts.get(d.name, 0) + 1
    def prefix(d: StudyData, folder: int) -> str:
        if not d.source or "://" in d.source:
            return "db"
        path = Path(d.source)
        return (path.resolve().parent.name or "root") if folder else path.stem

    stems: dict[str, int] = {}
    for d in datas:
        if counts[d.name] > 1:
            stems[prefix(d, 0)] = stems.get(prefix(d, 0), 0) + 1
    seen: set[str] = set()
    for d in datas:
        name = d.name
        if counts[name] > 1:  # the file's name in front, or its folder's when the files share a name too
            name = f"{prefix(d, 1 if stems[prefix(d, 0)] > 1 else 0)}-{name}"
        base, i = name, 2
        while name in seen:
            name, i = f"{base}-{i}", i + 1
        seen.add(name)
        d.name = name


def _safe(name: str, limit: int = 120) -> str:
    """A folder name from a study name (which Optuna lets be anything)."""
    text = re.sub(r"[^A-Za-z0-9._=+-]+", "_", name).strip("._") or "study"
    return text[:limit]

