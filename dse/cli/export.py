"""`dse export`: take a trained network of a study home (state_dict + design point, torch.export, ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dse.cli.app import command, console, err_console
from dse.cli.options import ForceOpt
from dse.errors import DseError
from dse.plan import cost
from dse.space import format_value

DEFINITION_ATTR = "dse"  # the study user attr a dse sweep or search writes (the study layout)
EXPORT_DIR = Path("exports")


class ExportChoiceError(DseError):
    """The trial to export cannot be chosen from the given options."""


FILE_ROLES = {
    "pt": "state_dict + design point + probe: dse.weights.load(path)",
    "json": "design point, input normalisation, the run's record",
    "pt2": "torch.export program: torch.export.load(path).module()",
    "onnx": "ONNX graph: input 'images' [N, C, H, W] normalised, output 'logits'",
}


@command("export", help="Write a trained network of a study: its state_dict and design point, a torch.export "
         "program and ONNX (with the onnx extra), each checked against the trial's record.")
def export_command(
    study: Annotated[str, typer.Argument(metavar="STUDY", help="A study file (studies/sr.db) or storage URL.",
                                         show_default=False)],
    trial: Annotated[int | None, typer.Option("--trial", min=0, metavar="N",
                                              help="The trial number to export.")] = None,
    best: Annotated[bool, typer.Option("--best", help="Export the most accurate trial with kept weights (by "
                                       "validation top-1 where every candidate recorded it, else test top-1) "
                                       "within the budgets.")]
    = False,
    max_size_mb: Annotated[float | None, typer.Option("--max-size-mb", min=0.0, metavar="MB",
                                                      help="With --best: fp32 size budget (MB).")] = None,
    max_latency_ms: Annotated[float | None, typer.Option(
        "--max-latency-ms", min=0.0, metavar="MS", help="With --best: single-image CPU latency budget (ms, as the "
        "sweep measured it).")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Directory for the files.",
                                             show_default=f"{EXPORT_DIR}/<study>/trial-<N>")] = None,
    artifacts: Annotated[str | None, typer.Option(
        "--artifacts", metavar="DIR|URL", help="Where the study keeps its weights: a directory, s3://bucket or gs://bucket.",
        show_default="beside an SQLite study, studies/<name>.artifacts")] = None,
    study_name: Annotated[str | None, typer.Option("--study-name", help="The study, where the storage holds "
                                                   "several.")] = None,
    onnx: Annotated[bool, typer.Option("--onnx/--no-onnx", help="Also write ONNX (needs the onnx extra).")] = True,
    force: ForceOpt = False,
) -> None:
    """Choose a trial, fetch its weights, write and check the files, print what was written."""
    if (trial is None) == (not best):
        raise ExportChoiceError("give either --trial N or --best")
    if not best and (max_size_mb is not None or max_latency_ms is not None):
        raise ExportChoiceError("--max-size-mb and --max-latency-ms choose among trials: use them with --best")

    import optuna

    from dse.export import claim_directory, export
    from dse.study.artifacts import WEIGHTS_ATTR, fetch_weights, store_for, weights_id
    from dse.study.layout import TEST, VALIDATION
    from dse.study.storage import file_name, open_existing
    from dse.weights import WeightsMismatch

    storage, display = open_existing(study)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = optuna.get_all_study_names(storage)
    if study_name is not None and study_name not in names:
        raise ExportChoiceError(f"no study {study_name!r} in {display}; it holds: {', '.join(sorted(names))}")
    if study_name is None:
        if len(names) != 1:
            raise ExportChoiceError(f"{display} holds {len(names)} studies; pick one with --study-name "
                                    f"({', '.join(sorted(names))})" if names else f"{display} holds no studies")
        study_name = names[0]
    loaded = optuna.load_study(study_name=study_name, storage=storage)
    if not isinstance(loaded.user_attrs.get(DEFINITION_ATTR), dict):
        raise ExportChoiceError(f"study {study_name!r} in {display} was not made by dse (no {DEFINITION_ATTR!r} "
                                "definition): dse export reads studies of dse sweep and dse search")
    trials = [t for t in loaded.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if best:
        chosen, by = choose_best(trials, max_size_mb, max_latency_ms, WEIGHTS_ATTR)
    else:
        matches = [t for t in loaded.get_trials(deepcopy=False) if t.number == trial]
        if not matches:
            raise ExportChoiceError(f"study {study_name!r} has no trial {trial}")
        if matches[0].state != optuna.trial.TrialState.COMPLETE:
            raise ExportChoiceError(f"trial {trial} is {matches[0].state.name.lower()}, not complete: nothing to "
                                    "export")
        chosen, by = matches[0], None

    weights_id(chosen, study_name)  # a trial without weights says so before any store is looked for
    target = out if out is not None else EXPORT_DIR / file_name(study_name, instead="--out FOLDER") / \
        f"trial-{chosen.number}"
    claim_directory(target, force)  # a folder of the user's is refused before anything is fetched or written
    store = store_for(study, artifacts)
    weights = fetch_weights(loaded, chosen.number, store)
    recorded_point = chosen.user_attrs.get("point")
    if isinstance(recorded_point, dict) and recorded_point != weights.point.to_dict():
        raise WeightsMismatch(f"trial {chosen.number}'s stored weights are of another design point than the trial")
    recorded_top1 = chosen.user_attrs.get("top1")
    if recorded_top1 is not None and weights.record.get("top1") not in (None, recorded_top1):
        raise WeightsMismatch(f"trial {chosen.number}'s stored weights record {weights.record['top1']}% top-1; the "
                              f"trial {recorded_top1}%")

    result = export(weights, target, onnx=onnx, force=force)

    c = cost(weights.point)
    a = chosen.user_attrs

    def say(line: str, to=console) -> None:  # whole lines when piped, as train and sweep print them
        to.print(line, highlight=False, markup=False, soft_wrap=not to.is_terminal)

    say(f"trial {chosen.number} of {study_name} ({display}), chosen by "
        + (by if by else f"--trial {chosen.number}"))
    say("point: " + ", ".join(f"{k} {format_value(k, v)}" for k, v in weights.point.to_dict().items()))
    accuracy = accuracy_line(a, (VALIDATION if by.startswith(VALIDATION) else TEST) if by else None)
    if accuracy:
        say(accuracy)
    say(f"size {c.size_mb:.3f} MB fp32 ({c.params:,} params), {c.size_mb_int8:.3f} MB at 8 bits, "
        f"{c.size_mb_int4:.3f} MB at 4 bits; weights stored in {weights.precision}")
    if a.get("latency_ms") is not None:
        say(f"latency {a['latency_ms']:.2f} ms per image on {a.get('latency_cpu', '?')} "
            f"({a.get('latency_threads', '?')} threads)")
    for kind, path in result.files.items():
        check_line = f"; {result.checks[kind].line()}" if kind in result.checks else ""
        say(f"  {path} ({path.stat().st_size / 2**20:.3f} MB)  {FILE_ROLES[kind]}{check_line}")
    for reason in result.skipped.values():
        say(reason, err_console)


def accuracy_line(attrs: dict, chosen_on: str | None) -> str | None:
    """The trial's top-1 on each split it recorded, naming the split that chose it where accuracy chose (--best:
    `chosen_on`); a trial the user named (--trial: None) was chosen by no split. None without any top-1."""
    from dse.study.layout import TEST, TEST_TOP1, VAL_TOP1, VALIDATION

    val, test = attrs.get(VAL_TOP1), attrs.get(TEST_TOP1)
    parts = []
    if val is not None:
        parts.append(f"{val:.2f}% on validation" + (" (the split that chose it)" if chosen_on == VALIDATION else ""))
    if test is not None:
        why = "no validation split recorded" if val is None else "not every candidate recorded validation"
        parts.append(f"{test:.2f}% on test" + (f" (the split that chose it: {why})" if chosen_on == TEST else
                                                 f" ({why})" if val is None else ""))
    return "top-1 " + ", ".join(parts) if parts else None


def choose_best(trials, max_size_mb: float | None, max_latency_ms: float | None, weights_attr: str):
    """The kept trial with the highest top-1 within the budgets, on the split `layout.choosing_split` names for
    them (validation where every one recorded it, else test); one line when none fits."""
    from dse.study.layout import TEST_TOP1, VAL_TOP1, VALIDATION, choosing_split

    kept = [t for t in trials if t.user_attrs.get(weights_attr) and t.user_attrs.get("top1") is not None]
    if not kept:
        raise ExportChoiceError("no completed trial of this study kept its weights (sweep with --keep-weights "
                                "all or best)")
    fits = [t for t in kept if max_size_mb is None or t.user_attrs.get("size_mb", float("inf")) <= max_size_mb]
    if not fits:
        smallest = min(t.user_attrs.get("size_mb", float("inf")) for t in kept)
        raise ExportChoiceError(f"no trial with kept weights fits --max-size-mb {max_size_mb:g} (the smallest is "
                                f"{smallest:.3f} MB)")
    if max_latency_ms is not None:
        timed = [t for t in fits if t.user_attrs.get("latency_ms") is not None]
        if not timed:
            raise ExportChoiceError("no trial of this study recorded its latency, so --max-latency-ms cannot "
                                    "choose")
        fits = [t for t in timed if t.user_attrs["latency_ms"] <= max_latency_ms]
        if not fits:
            fastest = min(t.user_attrs["latency_ms"] for t in timed)
            raise ExportChoiceError(f"no trial with kept weights fits --max-latency-ms {max_latency_ms:g} within "
                                    f"the size budget (the fastest takes {fastest:.2f} ms)")
    split = choosing_split(t.user_attrs.get(VAL_TOP1) for t in fits)
    key = VAL_TOP1 if split == VALIDATION else TEST_TOP1
    chosen = max(fits, key=lambda t: (t.user_attrs[key], -t.user_attrs.get("size_mb", 0.0), -t.number))
    by = "validation top-1" if split == VALIDATION else "test top-1 (no validation split recorded)"
    return chosen, by
