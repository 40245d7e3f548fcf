"""Ctrl-C handling of a worker (`dse.study.processes.Interrupts`): real signals sent to this process."""

import os
import signal
import weakref

import pytest

from dse.study.processes import Interrupts, dead_locally, handle_interrupts, worker_token


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread before the next bytecode runs


def test_a_ctrl_c_outside_training_is_held_and_raised_when_training_starts():
    with handle_interrupts(sigint=True) as interrupts:
        _ctrl_c()  # as if in the middle of a storage write: nothing may happen there
        assert interrupts.pending
        with pytest.raises(KeyboardInterrupt):
            with interrupts.allowed():
                raise AssertionError("training must not start with a Ctrl-C held")


def test_a_ctrl_c_during_training_interrupts_at_once_and_later_ones_are_ignored():
    reached = []
    with handle_interrupts(sigint=True) as interrupts:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.allowed():
                _ctrl_c()
                reached.append("after")
        _ctrl_c()  # the command passes Ctrl-C on again while the trial is closed
        _ctrl_c()
        interrupts.check()  # nothing more is raised
    assert reached == []


def test_a_callback_inside_training_runs_with_interrupts_held():
    written = []

    def write_to_study():
        _ctrl_c()
        written.append("whole")  # the write completes

    with handle_interrupts(sigint=True) as interrupts:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.allowed():
                interrupts.held(write_to_study)()
                raise AssertionError("the held Ctrl-C is raised as soon as the callback returns")
    assert written == ["whole"]


def test_a_ctrl_c_that_lands_where_python_swallows_it_is_raised_at_the_next_safe_point(capfd):
    """A signal taken inside a weakref callback (torch frees tensors through them) raises there, and Python only
    prints "Exception ignored": the interrupt is raised again at the next callback, so training stops."""
    class Tensor:
        pass

    reached = []
    with handle_interrupts(sigint=True) as interrupts:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.allowed():
                freed = Tensor()
                ref = weakref.ref(freed, lambda _: _ctrl_c())
                del freed  # the callback takes the Ctrl-C; Python prints it and goes on
                assert ref() is None
                reached.append("after the callback")
                interrupts.held(lambda: reached.append("progress written"))()
                reached.append("training went on")
        _ctrl_c()  # passed on again while the trial closes: ignored
        interrupts.check()
    assert reached == ["after the callback", "progress written"]
    assert capfd.readouterr().err == ""  # no "Exception ignored ... Traceback": it was raised again


def test_a_swallowed_ctrl_c_with_no_callback_after_it_is_raised_as_the_block_ends():
    class Tensor:
        pass

    with handle_interrupts(sigint=True) as interrupts:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.allowed():
                freed = Tensor()
                ref = weakref.ref(freed, lambda _: _ctrl_c())
                del freed
        assert ref() is None and interrupts.delivered


def test_sigterm_closes_like_ctrl_c_and_the_handlers_are_restored():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with handle_interrupts(sigint=True) as interrupts:
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_the_signal_taken_is_named_for_the_trial_it_closes():
    with handle_interrupts(sigint=True) as interrupts:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # a later signal does not change what stopped it
        assert interrupts.cause() == "SIGTERM"
    with handle_interrupts(sigint=True) as interrupts:
        _ctrl_c()
        assert interrupts.cause() == "Ctrl-C"
    assert Interrupts().cause() == "Ctrl-C"  # a KeyboardInterrupt that came through no handler


def test_a_process_started_with_ctrl_c_ignored_keeps_ignoring_it():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job
    try:
        with handle_interrupts() as interrupts:
            _ctrl_c()
            interrupts.check()
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_without_handlers_nothing_is_held():
    interrupts = Interrupts()
    with interrupts.allowed():
        pass
    interrupts.check()


def test_a_token_of_this_process_is_alive_and_of_a_gone_pid_is_dead():
    token = worker_token("cpu")
    assert not dead_locally(token)
    assert dead_locally({**token, "pid": 2**22 + 12345})  # above pid_max's default: no such process
    assert not dead_locally({**token, "machine": "another machine"})  # another machine: not ours to judge


def test_a_cpu_sweep_defaults_to_a_worker_per_core_a_gpu_to_one():
    from dse.study.processes import CPU_WORKER_GB, default_workers

    cores = len(os.sched_getaffinity(0))
    memory_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    assert default_workers("cpu") == max(1, min(cores, int(memory_gb // CPU_WORKER_GB)))
    assert default_workers("cuda:0") == 1
