"""Brief, trustworthy training of one design point: an explicit recipe in, test accuracy and cost out.

Trustworthy: seeded (init, data order, augmentation), evaluated after every epoch on the validation split
(which chooses: `on_epoch` gets it) and on the held-out test split (which only measures), the recipe recorded
with the result. Fast: the data lives on the device (`dse.data.DeviceData`), steps run in bf16 autocast and
channels_last on CUDA, and the host syncs only every `check_every` steps and at each evaluation, never per step.

Modules: `recipe` (Recipe, the default per norm), `loop` (train, the session, the one SGD step and the one
evaluation loop), `graph` (that step captured in a CUDA graph), `device` (devices, precision, memory released),
`outcome` (RunResult, Progress, the failures), `bench` (throughput in steady state), `latency` (CPU inference
latency), `check` (does every part of the space train: `dse check`).
"""

from dse.train.bench import StepTiming, time_steps
from dse.train.device import DeviceError, autocast_bf16, cpu_has_native_bf16, device_name, resolve_device
from dse.train.loop import evaluate, train
from dse.train.outcome import Diverged, OutOfMemory, Progress, RunResult, TrainingFailed
from dse.train.recipe import NO_NORM_RECIPE, PRECISIONS, Recipe, recipe_for

__all__ = ["NO_NORM_RECIPE", "PRECISIONS", "DeviceError", "Diverged", "OutOfMemory", "Progress", "Recipe",
           "RunResult", "StepTiming", "TrainingFailed", "autocast_bf16", "cpu_has_native_bf16", "device_name",
           "evaluate", "recipe_for", "resolve_device", "time_steps", "train"]
