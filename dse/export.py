"""Write a trained network where other tools can use it, and prove each file gives the recorded logits.

One directory per network:

* ``model.pt``    the dse weights file (state_dict, design point, probe): ``dse.weights.load("model.pt")``;
* ``point.json``  the design point, the input normalisation and the run's record, for people and other tools;
* ``model.pt2``   a ``torch.export`` program (``torch.export.load(...).module()``), batch size free;
* ``model.onnx``  the same graph as ONNX (input ``images``, output ``logits``, batch size free), where the
  optional ``onnx`` and ``onnxscript`` packages are installed (``pip install 'dse[onnx]'``).

Every file is re-read and run on the probe images before the export counts as done (`dse.weights.check`). The
directory is new, empty or one an earlier export made (`dse.outdir`): a user's files are overwritten only with
`force`.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import warnings
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dse.errors import DseError, first_line
from dse.outdir import Claim, Writing, claim
from dse.weights import CheckResult, Weights, WeightsError, check, read, save

MAX_BATCH = 4096  # the exported programs' batch dimension ranges over 1..MAX_BATCH
ONNX_OPSET = 18
FILES = {"pt": "model.pt", "json": "point.json", "pt2": "model.pt2", "onnx": "model.onnx"}
KIND = "export"


class ExportError(DseError):
    """A network cannot be written to the asked format or place."""


@dataclass(frozen=True)
class Exported:
    """Where the files went and how each was checked."""

    directory: Path
    files: dict[str, Path]  # kind (pt, json, pt2, onnx) -> path
    checks: dict[str, CheckResult]  # kind -> probe check of the re-read file
    skipped: dict[str, str] = field(default_factory=dict)  # kind -> why it was not written


def onnx_missing() -> str | None:
    """Why ONNX cannot be written here, or None. torch.onnx's exporter (dynamo, the default since torch 2.9)
    needs both onnx and onnxscript."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        return f"ONNX skipped: {' and '.join(missing)} not installed (pip install 'dse[onnx]')"
    return None


def claim_directory(directory: str | os.PathLike, force: bool = False) -> Claim:
    """Check `directory` may take an export (`dse.outdir.claim`); writes nothing."""
    return claim(directory, KIND, FILES.values(), force)


def export(weights: Weights, directory: str | os.PathLike, *, onnx: bool = True, force: bool = False) -> Exported:
    """Write model.pt, point.json, model.pt2 and (where possible) model.onnx into `directory`, each checked.
    `force`: write into a directory holding files dse did not write."""
    folder = claim_directory(directory, force)
    out = folder.path
    try:
        writing = Writing(folder)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ExportError(f"{out} is not writable")
    files: dict[str, Path] = {}
    checks: dict[str, CheckResult] = {}
    skipped: dict[str, str] = {}

    files["pt"] = save(weights, writing.file(FILES["pt"]))
    checks["pt"] = check(read(files["pt"]))
    files["json"] = writing.file(FILES["json"])
    files["json"].write_text(json.dumps(weights.metadata(), indent=2) + "\n")

    model = weights.model()
    example = weights.normalise(weights.probe.images) if weights.probe is not None else _example(weights)
    program = export_program(model, example)
    files["pt2"] = writing.file(FILES["pt2"])
    torch.export.save(program, files["pt2"])
    checks["pt2"] = check(weights, torch.export.load(files["pt2"]).module())

    reason = onnx_missing() if onnx else "ONNX not asked for"
    if reason is None:
        files["onnx"] = write_onnx(model, example, writing.file(FILES["onnx"]))
        checks["onnx"] = check(weights, onnx_runner(files["onnx"]))
    else:
        skipped["onnx"] = reason
    writing.done()  # a model.onnx of an earlier export, not rewritten now, goes
    return Exported(out, files, checks, skipped)


def _example(weights: Weights) -> torch.Tensor:
    p = weights.point
    return torch.zeros(2, p.in_channels, p.input_size, p.input_size)


def _batch_dim():
    return ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)


def export_program(model: torch.nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    """torch.export of the eval-mode network with a free batch dimension."""
    model.eval()
    if example.shape[0] < 2:  # torch.export specialises a dimension of size 1
        example = example.expand(2, *example.shape[1:]).contiguous()
    try:
        return torch.export.export(model, (example,), dynamic_shapes=_batch_dim())
    except Exception as exc:
        raise ExportError(f"torch.export failed: {first_line(exc)}") from None


def write_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """ONNX through torch.onnx's dynamo exporter (its progress lines are kept off the console)."""
    model.eval()
    if example.shape[0] < 2:
        example = example.expand(2, *example.shape[1:]).contiguous()
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=["images"],
                              output_names=["logits"], dynamic_shapes=_batch_dim(), opset_version=ONNX_OPSET,
                              external_data=False, verbose=False)
    except Exception as exc:
        raise ExportError(f"ONNX export failed: {first_line(exc)}") from None
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    return path


def onnx_runner(path: Path):
    """A callable tensor -> logits running the ONNX file: onnxruntime where installed, else onnx's reference
    evaluator (slow, exact enough for a few probe images)."""
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
    else:
        import onnx
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(onnx.load(str(path)))

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(evaluator.run(None, {"images": x.numpy()})[0])

    return run


__all__ = ["Exported", "ExportError", "WeightsError", "claim_directory", "export", "export_program", "onnx_missing",
           "onnx_runner", "write_onnx"]
