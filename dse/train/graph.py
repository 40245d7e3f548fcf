"""The training step captured in a CUDA graph and replayed (`Recipe.step="graph"`; docs/gpu.md): the session's own
step over static buffers, with an eager fallback when the capture fails."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from dse.train.loop import Session

GRAPH_WARMUP_STEPS = 3  # eager steps (real ones, on the schedule) before the capture: optimizer state, cuDNN
log = logging.getLogger(__name__)


class StaticStep:
    """The training step over static buffers, so that a CUDA graph can capture it once and replay it.

    The step's inputs are device tensors written before each step: the batch's image indices and the learning
    rate (the optimizer reads it as a tensor, so the schedule stays exact under replay). The batch is gathered
    and augmented inside the step (the data generator is registered with the graph, dropout's default
    generator is registered by torch), autocast runs with cache_enabled=False, and the gradients are allocated
    once, by the captured backward. On CUDA the first GRAPH_WARMUP_STEPS steps run eagerly on a side stream
    (optimizer state, cuDNN autotuning), then the step is captured and every later step is a replay. Any error
    while capturing switches the run to the eager step with one line in the log. Uncaptured (a CPU), the same
    computation runs eagerly: tests compare it with the eager step.
    """

    def __init__(self, session: Session, capture: bool) -> None:
        self.s = session
        dev = session.dev
        self.idx = torch.zeros(session.batch_size, dtype=torch.long, device=dev)
        # fused SGD on CUDA reads a float32 lr tensor; on a CPU SGD reads it as a Python number (exact in fp64)
        self.lr = torch.zeros((), dtype=torch.float32 if dev.type == "cuda" else torch.float64, device=dev)
        for group in session.optimizer.param_groups:
            group["lr"] = self.lr
        self.capture = capture
        self.graph: torch.cuda.CUDAGraph | None = None
        self.usable = True
        self.eager_steps = 0

    def body(self) -> None:
        self.s.sgd_step(self.idx, cache=False)  # the session's step, on the static index buffer and tensor lr

    def __call__(self, idx: torch.Tensor, lr: float) -> None:
        self.idx.copy_(idx)
        self.lr.fill_(lr)
        if self.graph is not None:
            self.graph.replay()
        elif not self.capture:
            self.body()
        elif self.eager_steps < GRAPH_WARMUP_STEPS and not self.s.cuda:
            self.body()
            self.eager_steps += 1
        elif self.eager_steps < GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream(self.s.dev)
            side.wait_stream(torch.cuda.current_stream(self.s.dev))
            with torch.cuda.stream(side):
                self.body()
            torch.cuda.current_stream(self.s.dev).wait_stream(side)
            self.eager_steps += 1
        elif self._capture():
            self.graph.replay()
        else:  # this step (not yet taken: a capture runs nothing) is taken by the eager step
            self.s.advance(idx, lr)

    def _capture(self) -> bool:
        """Capture `body` once; False (and the eager step from now on) if anything goes wrong."""
        s = self.s
        try:
            graph = torch.cuda.CUDAGraph()
            graph.register_generator_state(s.data_generator)
            s.optimizer.zero_grad(set_to_none=True)  # the captured backward allocates the static gradients
            with torch.cuda.graph(graph):
                self.body()
            self.graph = graph
            return True
        except Exception as exc:  # noqa: BLE001 - any capture failure: the eager step is always correct
            log.warning("dse: CUDA graph capture failed (%s: %s); this run continues with the eager step",
                        type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            self.graph = None
            self.usable = False
            s.optimizer.zero_grad(set_to_none=True)
            for group in s.optimizer.param_groups:
                group["lr"] = s.recipe.lr  # a number again (the eager step sets it every step)
            if s.cuda:
                torch.cuda.synchronize(s.dev)
            return False
