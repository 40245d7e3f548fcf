"""Worker processes and who is alive: machine identity, dead local workers, spawning, Ctrl-C and SIGTERM.

Nothing here touches Optuna; `dse.study.runner` decides what a worker does.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from dse.data import load_dataset
from dse.train import resolve_device


def machine_id() -> str:
    """This machine and PID namespace: a PID means the same process only under the same id."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    except OSError:
        pass
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        pass
    return "/".join(parts)


def _process_start(pid: int) -> int | None:
    """The start time of a live process (clock ticks since boot), to tell a reused PID; None if none."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return -1  # alive, start time unknown


def worker_token(device: str, run_id: str = "") -> dict:
    return {"host": socket.gethostname(), "machine": machine_id(), "pid": os.getpid(),
            "start": _process_start(os.getpid()), "device": device, "run": run_id}


def dead_locally(token: dict | None) -> bool:
    """True when the token's process ran on this machine and is gone (or its PID now belongs to another)."""
    if not token or token.get("machine") != machine_id():
        return False
    start = _process_start(int(token["pid"]))
    return start is None or (start != -1 and token.get("start") not in (None, start))


def load_data(spec):
    return load_dataset(spec.dataset, spec.data_dir, image_size=spec.point.input_size, subset=spec.subset,
                        val_fraction=spec.val_fraction)


def worker_devices(device: str, workers: int) -> list[str]:
    """One device per worker: `auto`/`cuda` spread workers over every GPU (several may share one)."""
    if device in ("auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return [f"cuda:{i % n}" for i in range(workers)]
    resolved = str(resolve_device(device))  # a device that does not exist here fails now, with one line
    return [resolved] * workers


CPU_WORKER_GB = 3.0  # memory per CPU worker: its copy of the data, the network, activations (2 GB measured: CIFAR-10)


def default_workers(device: str) -> int:
    """What `--workers` means when not given: on a CPU one worker per core, each with one thread, as many as the
    memory holds (measured faster than one worker using every core, and far steadier when the cores are shared:
    docs/training.md); on a GPU one."""
    if device in ("auto", "cuda") and torch.cuda.is_available() or device.startswith("cuda"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        memory_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    except (ValueError, OSError, AttributeError):
        memory_gb = CPU_WORKER_GB * cores
    return max(1, min(cores, int(memory_gb // CPU_WORKER_GB)))


class Interrupts:
    """Ctrl-C and SIGTERM for a process that writes to the study: raised as KeyboardInterrupt only inside
    `allowed()` (training, waiting); anywhere else it is held and raised when the next `allowed()` opens or at
    `check()`. An interrupt in the middle of a storage call can leave a broken connection holding SQLite's write
    lock, which stalls every other worker for the busy timeout; held, it cannot land there. Once raised, later
    signals are ignored: the process is closing its trial (the command passes Ctrl-C on more than once)."""

    def __init__(self) -> None:
        self.pending = self.open = self.raised = False
        self.delivered = False  # the KeyboardInterrupt raised has left an `allowed()` block (not swallowed)
        self.signum: int | None = None  # the first signal taken: what the trial it closes records

    def _on_signal(self, signum, _frame) -> None:
        if self.raised:
            return
        if self.signum is None:
            self.signum = signum
        if self.open:
            self._raise()
        self.pending = True

    def cause(self) -> str:
        """Why the process stops, as a trial records it: `Ctrl-C` (SIGINT, or a KeyboardInterrupt that came
        through no handler) or the signal's name, e.g. `SIGTERM`."""
        if self.signum is None or self.signum == signal.SIGINT:
            return "Ctrl-C"
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def _raise(self, safe: bool = False) -> None:
        """`safe`: raised by dse's own code (`check`), which nothing swallows; from the handler, it may be."""
        self.raised, self.open, self.delivered = True, False, safe
        raise KeyboardInterrupt

    def _lost(self) -> bool:
        """Raised where Python swallows exceptions (the signal landed in a weakref callback or a `__del__`, which
        print "Exception ignored" and go on): still to be raised, at the next safe point."""
        return self.raised and not self.delivered

    def check(self) -> None:
        if (self.pending and not self.raised) or self._lost():
            self._raise(safe=True)

    @contextmanager
    def allowed(self):
        self.check()
        self.open = True
        try:
            yield
        except KeyboardInterrupt:
            self.delivered = True
            raise
        finally:
            self.open = False
        self.check()  # one swallowed inside the block

    def held(self, fn):
        """`fn` run with interrupts held: a callback that writes to the study from inside training."""

        def call(*args, **kwargs):
            was, self.open = self.open, False
            try:
                return fn(*args, **kwargs)
            finally:
                self.open = was
                if was or self._lost():
                    self.check()

        return call


@contextmanager
def handle_interrupts(sigint: bool | None = None):
    """An `Interrupts` for SIGTERM (a scheduler stopping the job closes the trial as Ctrl-C does) and SIGINT,
    installed for the block in the main thread; elsewhere no signal reaches it and it does nothing. SIGINT is
    left ignored where the process started with it ignored (a background job), unless `sigint` says."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    if sigint is None:
        sigint = takes_sigint()
    signals = (signal.SIGINT, signal.SIGTERM) if sigint else (signal.SIGTERM,)
    previous = [(sig, signal.signal(sig, interrupts._on_signal)) for sig in signals]
    unraisable = sys.unraisablehook

    def quiet_when_raised_again(info) -> None:
        """Python's "Exception ignored ... Traceback" for our own interrupt swallowed in a weakref callback or a
        `__del__`: not printed, since `Interrupts` raises it again at the next safe point."""
        if not (isinstance(info.exc_value, KeyboardInterrupt) and interrupts._lost()):
            unraisable(info)

    sys.unraisablehook = quiet_when_raised_again
    try:
        yield interrupts
    finally:
        sys.unraisablehook = unraisable
        for sig, handler in previous:
            signal.signal(sig, handler)


def takes_sigint() -> bool:
    return signal.getsignal(signal.SIGINT) is not signal.SIG_IGN


def run_processes(worker, spec, options, devices: list[str], notify, *, has_work, interrupts: Interrupts) -> None:
    """Spawn one `worker(spec, options, device, workers, gate, sigint)` process per device (a module-level function:
    spawn imports it by name; `dse.study.runner.worker_main`) and wait for them, calling `notify` (which reads the
    study: interrupts held) about once a second. Workers take Ctrl-C where this process does."""
    ctx = multiprocessing.get_context("spawn")
    gate, sigint = ctx.Lock(), takes_sigint()
    procs = [ctx.Process(target=worker, args=(spec, options, device, len(devices), gate, sigint),
                         name=f"worker {i}") for i, device in enumerate(devices)]
    try:
        with _sigint_ignored():  # inherited: a worker takes Ctrl-C only once it can close a trial cleanly
            for p in procs:
                p.start()
        while any(p.is_alive() for p in procs):
            if notify:
                notify()
            with interrupts.allowed():
                for p in procs:
                    p.join(timeout=1.0 / len(procs))
    except KeyboardInterrupt:
        # what the workers take, and what they record: SIGTERM passed on as SIGTERM, Ctrl-C as Ctrl-C
        _stop(procs, signal.SIGINT if sigint and interrupts.signum != signal.SIGTERM else signal.SIGTERM)
        raise
    failed = [p for p in procs if p.exitcode != 0]
    if failed:
        codes = ", ".join(f"{p.name}: {_exit_text(p.exitcode)}" for p in failed)
        left = "the next start re-runs what it left" if has_work() else "the other workers finished its work"
        print(f"dse: {codes}; {left}", file=sys.stderr)


@contextmanager
def _sigint_ignored():
    """SIGINT ignored while workers start: they inherit that (and not a Python handler) through exec, so a
    Ctrl-C in their start-up imports does nothing rather than print a traceback. The worker handles it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(procs: list, sig: int) -> None:
    """Ctrl-C or SIGTERM: workers in the same terminal got Ctrl-C too; keep passing `sig` to any still running (one
    may still be starting, with it ignored), then wait for each to close its trial. A second Ctrl-C does not cut
    the waiting short (`Interrupts` ignores signals once it has raised)."""
    deadline = time.monotonic() + 1.0
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    deadline = time.monotonic() + 60.0
    while any(p.is_alive() for p in procs) and time.monotonic() < deadline:
        for p in procs:
            if p.is_alive() and p.pid:
                os.kill(p.pid, sig)
        for p in procs:
            p.join(timeout=0.5 / len(procs))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(5)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"
