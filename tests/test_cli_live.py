"""The live display's renderers: what a person sees during a sweep or a training run, at 80 columns and in plain
(non-terminal) mode, from fixed snapshots."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from rich.console import Console

from dse.cli.live import (
    LiveDisplay,
    RunLog,
    RunView,
    Snapshot,
    SweepLog,
    TrialView,
    duration,
    eta_bounds,
    eta_seconds,
    fit,
    prior_seconds,
    run_lines,
    status_line,
    sweep_lines,
    trial_time_model,
)

T0 = 1000.0  # a monotonic clock reading


def sweep(**changes) -> Snapshot:
    """An SR sweep of 8 trials, each of work 100: 2 done, 1 failed, 1 half-way after 50 s, 4 queued."""
    trials = (
        TrialView(0, "sr=0.125", "done", work=100, seconds=90, finished_at=95, top1=61.25),
        TrialView(1, "sr=0.25", "done", work=100, seconds=110, finished_at=205, top1=68.5),
        TrialView(2, "sr=0.375", "failed", work=100, seconds=3, finished_at=210, note="diverged in epoch 1"),
        TrialView(3, "sr=0.5", "running", work=100, seconds=50, epoch=5, epochs=8, step=0, steps=98,
                  epoch_top1=(40.0, 51.0, 55.5, 58.25), images_per_second=1234.0),
        *(TrialView(n, f"sr={n / 8:g}", "queued", work=100) for n in range(4, 8)),
    )
    return replace(Snapshot(total=8, trials=trials, elapsed=260.0, taken_at=T0), **changes)


def test_duration():
    assert [duration(s) for s in (0, 8.4, 65, 3599, 3600 * 2 + 7 * 60)] == ["0s", "8s", "1m05s", "59m59s", "2h07m"]


def test_fit_leaves_out_the_least_important_parts_first():
    parts = [(0, "a" * 10), (2, "b" * 10), (1, "c" * 10), (2, "d" * 10)]
    assert fit(parts, 100) == " · ".join(t for _, t in parts)
    assert fit(parts, 36) == "aaaaaaaaaa · bbbbbbbbbb · cccccccccc"
    assert fit(parts, 23) == "aaaaaaaaaa · cccccccccc"
    assert len(fit([(0, "x" * 100)], 80)) == 80


def test_eta_is_remaining_work_over_measured_speed():
    snap = sweep()
    # measured: 2 x 100 done in 200 s, 50 done in 50 s (the failed trial did no work) -> 1 work/s
    # left: 50 of the running trial, 4 x 100 queued -> 450 s on one worker
    assert eta_seconds(snap) == pytest.approx(450)
    assert eta_seconds(replace(snap, workers=2)) == pytest.approx(225)
    assert eta_seconds(snap, now=T0 + 10) == pytest.approx(440)  # the clock runs between snapshots


def test_eta_exists_from_the_first_reported_step_and_is_refined_as_trials_finish():
    start = Snapshot(total=2, trials=(TrialView(0, "a", "queued", work=100), TrialView(1, "b", "queued", work=300)),
                     taken_at=T0)
    assert eta_seconds(start) is None and "ETA after the first steps" in status_line(start, T0)
    assert eta_seconds(replace(start, rate=2.0)) == pytest.approx(200)  # a prior rate, if the runner has one
    first_step = replace(start, trials=(TrialView(0, "a", "running", work=100, seconds=10, epoch=1, epochs=1,
                                                  step=1, steps=10), start.trials[1]))
    assert eta_seconds(first_step) == pytest.approx((90 + 300) / 1.0)  # 10 work in 10 s
    finished = replace(start, trials=(TrialView(0, "a", "done", work=100, seconds=50, top1=50.0), start.trials[1]))
    assert eta_seconds(finished) == pytest.approx(300 / 2.0)


def test_the_speed_test_stands_until_a_running_trial_is_past_its_first_epoch():
    """The first seconds of a trial are its cold start (kernels chosen, memory grown): slow steps that would swing
    the ETA. The speed test already counts them, so it stands until a trial has an epoch and its evaluation behind
    it; then the trial's own speed counts."""
    queued = TrialView(1, "b", "queued", work=300)
    cold = TrialView(0, "a", "running", work=100, seconds=10, epoch=1, epochs=2, step=1, steps=10)  # 5 work in 10 s
    prior = Snapshot(total=2, trials=(cold, queued), taken_at=T0, rate=2.0)
    assert eta_seconds(prior) == pytest.approx((95 + 300) / 2.0)  # the speed test's rate
    past = replace(cold, seconds=60, epoch=2, step=5)  # 75 work in 60 s
    assert eta_seconds(replace(prior, trials=(past, queued))) == pytest.approx((25 + 300) / 1.25)
    assert eta_seconds(replace(prior, rate=None)) == pytest.approx((95 + 300) / 0.5)  # no speed test: its own


def test_a_search_counts_trials_not_created_yet_at_the_mean_work():
    snap = Snapshot(total=4, trials=(TrialView(0, "a", "done", work=100, seconds=100, top1=1.0),
                                     TrialView(1, "b", "skipped", work=900)), taken_at=T0)
    assert eta_seconds(snap) == pytest.approx(300)


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160])
def test_every_line_fits_the_terminal(width):
    long = sweep(trials=tuple(replace(t, label=t.label + ", base_e=128, incr_e=128, pct3x3=0.5, seed=2")
                              for t in sweep().trials), workers=12)
    for snap in (sweep(), long, sweep(phase="decoding 60,000 images (once)")):
        for now in (T0, T0 + 3 * 3600):
            lines = sweep_lines(snap, now, width)
            assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]


def test_the_status_line_keeps_elapsed_and_eta_at_80_columns_even_when_counts_are_large():
    trials = tuple(TrialView(n, "x", "done" if n < 900 else "failed" if n < 990 else "running",
                             work=10, seconds=5, epoch=1, epochs=2, step=1, steps=2, top1=1.0) for n in range(1000))
    big = Snapshot(total=9999, trials=trials, elapsed=3 * 3600 + 59, taken_at=T0, workers=64)
    line = status_line(big, T0 + 1, 80)
    assert len(line) <= 80 and "900/9999 done" in line and "elapsed 3h01m" in line and "ETA " in line


def test_the_view_shows_progress_inside_an_epoch_best_and_recent_results():
    lines = sweep_lines(sweep(), T0 + 65, 80)
    text = "\n".join(lines)
    assert lines[0].startswith("━") and lines[0].endswith(" 3/8")  # bar, a space, the count
    assert "2/8 done · 1 running · 4 queued · 1 failed · elapsed 5m25s · ETA 6m25s" in text
    assert "best top-1 68.50%  #1 sr=0.25" in text
    assert "#3 sr=0.5  epoch 5/8 step 0/98  1,234 img/s  top-1 58.2%  1m55s" in text
    recent = [line.split()[0] for line in lines if line.startswith("  #") and " step " not in line]
    assert recent == ["#2", "#1", "#0"]  # most recently finished first
    assert "diverged in epoch 1" in text


def test_the_elapsed_time_moves_between_snapshots():
    snap = sweep(elapsed=0.0)
    assert "elapsed 0s" in status_line(snap, T0) and "elapsed 1m40s" in status_line(snap, T0 + 100)


def test_a_decoding_phase_is_named_before_trials_run():
    snap = Snapshot(total=3, trials=tuple(TrialView(n, "x", "queued", work=1) for n in range(3)), elapsed=38,
                    taken_at=T0, phase="decoding 60,000 images (once)")
    lines = sweep_lines(snap, T0, 80)
    assert "decoding 60,000 images (once) · elapsed 38s" in lines
    assert "0/3 done · 0 running · 3 queued" in lines[2]


def test_plain_log_says_each_event_once():
    log = SweepLog()
    queued = sweep(trials=tuple(replace(t, state="queued", seconds=0, epoch_top1=(), top1=None)
                                for t in sweep().trials), phase="decoding 100 images (once)", elapsed=0)
    first = log(queued, T0)
    assert first == ["[    0s] decoding 100 images (once)"]
    running = sweep(phase="")
    lines = log(running, T0)
    assert "[ 4m20s] #3 sr=0.5: started" in lines
    assert "[ 4m20s] #3 sr=0.5: epoch 4/8 top-1 58.2%, 1,234 img/s" in lines
    assert any(line.startswith("[ 4m20s] #1 sr=0.25: top-1 68.50% in 1m50s · 3/8 done · ETA ") for line in lines)
    assert "[ 4m20s] #2 sr=0.375: failed (diverged in epoch 1) · 3/8 done · ETA 7m30s" in lines
    assert log(running, T0 + 5) == []  # nothing new, nothing printed


def test_plain_log_says_the_whole_trial_and_its_training_apart():
    """"in" is the whole trial (what the status line counts); the training run is what the end table's "train s"
    shows, so the log names both."""
    log = SweepLog()
    log(sweep(trials=tuple(replace(t, state="queued") for t in sweep().trials)), T0)
    done = tuple(replace(t, train_seconds=72.4) if t.number == 1 else t for t in sweep().trials)
    lines = log(sweep(trials=done), T0)
    assert any(line.startswith("[ 4m20s] #1 sr=0.25: top-1 68.50% in 1m50s (training 1m12s) · 3/8 done")
               for line in lines), lines
    assert any(line.startswith("[ 4m20s] #0 sr=0.125: top-1 61.25% in 1m30s · ") for line in lines)  # unrecorded


def run_view(**changes) -> RunView:
    view = RunView("cifar10 · 32px · cpu", phase="training on 50,000 images", epoch=2, epochs=8, step=49, steps=98,
                   images_per_second=812.0, loss=1.234, top1=45.6, elapsed=70, busy=60, taken_at=T0)
    return replace(view, **changes)


@pytest.mark.parametrize("width", [40, 80, 120])
def test_run_lines_fit_and_show_step_speed_and_eta(width):
    lines = run_lines(run_view(), T0 + 1, width)
    assert all(len(line) <= width for line in lines)
    if width >= 80:
        text = "\n".join(lines)
        # 1.5 of 8 epochs in 60 s -> 6.5 epochs left at 40 s each = 260 s, one second later 259 s
        assert "epoch 2/8 · step 49/98" in text and "812 img/s" in text and "ETA 4m19s" in text
        assert "elapsed 1m11s" in text


def test_run_log_prints_a_line_per_evaluated_epoch():
    log = RunLog()
    assert log(run_view(epoch=0, step=0, top1=None, phase="loading cifar10"), T0) == ["[ 1m10s] loading cifar10"]
    assert log(run_view(top1=None), T0) == ["[ 1m10s] training on 50,000 images"]
    # the epoch's last step, before its evaluation: no accuracy of this epoch yet, the phase says why it waits
    assert log(run_view(epoch=2, step=98, top1=None, phase="evaluating epoch 2"), T0) == [
        "[ 1m10s] evaluating epoch 2"]
    assert log(run_view(epoch=2, step=98, evaluated=2, val_top1=44.0, phase="evaluating epoch 2"), T0) == [
        "[ 1m10s] epoch 2/8, loss 1.234, test top-1 45.6%, val top-1 44.0%, 812 img/s, ETA 3m00s"]
    assert log(run_view(epoch=2, step=98, evaluated=2), T0) == []
    # training again after the evaluation: the phase was said once; epoch 2's accuracy is not epoch 3's
    assert log(run_view(epoch=3, step=98, evaluated=2), T0) == []


def test_run_log_names_an_epoch_by_the_accuracy_it_measured():
    """The last step of epoch 3 still carries epoch 2's accuracy (the trainer reports it before evaluating):
    the line for epoch 3 waits for epoch 3's own."""
    log = RunLog()
    assert log(run_view(epoch=2, step=98, top1=22.7, evaluated=2), T0)[-1].endswith("test top-1 22.7%, 812 img/s, "
                                                                                    "ETA 3m00s")
    assert log(run_view(epoch=3, step=98, top1=22.7, evaluated=2), T0) == []
    assert "epoch 3/8, loss 1.234, test top-1 56.1%" in log(run_view(epoch=3, step=98, top1=56.1, evaluated=3), T0)[0]


def test_display_prints_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    now = time.monotonic()  # the display reads the clock itself
    with LiveDisplay(console, run_lines, RunLog()) as display:
        display.show(run_view(phase="loading", epoch=0, step=0, top1=None, taken_at=now))
        display.show(run_view(epoch=2, step=98, evaluated=2, taken_at=now))
    lines = out.getvalue().splitlines()
    texts = [line.split("] ", 1)[1] for line in lines]
    assert texts[:2] == ["loading", "training on 50,000 images"]
    assert texts[2].startswith("epoch 2/8, loss 1.234, test top-1 45.6%, 812 img/s, ETA ")
    assert all(line.startswith(("[ 1m10s]", "[ 1m11s]")) for line in lines)  # a slow machine may tick once


def test_display_draws_the_view_in_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80)
    with LiveDisplay(console, run_lines, RunLog()) as display:
        display.show(run_view())
    text = out.getvalue()
    assert "epoch 2/8 · step 49/98" in text and "[ 1m10s]" not in text


def test_a_running_trial_past_its_steps_shows_its_phase_not_its_last_step():
    snap = sweep()
    waiting = replace(snap, trials=tuple(replace(t, phase="measuring latency", epoch=8, step=98)
                                         if t.state == "running" else t for t in snap.trials))
    text = "\n".join(sweep_lines(waiting, T0, 80))
    assert "#3 sr=0.5  measuring latency" in text and "step 98/98" not in text
    training = replace(snap, trials=tuple(replace(t, phase="training") for t in snap.trials))
    assert "#3 sr=0.5  epoch 5/8 step 0/98" in "\n".join(sweep_lines(training, T0, 80))


def test_a_resumed_run_says_what_was_finished_before_it_in_one_line_and_replays_nothing():
    before = (TrialView(0, "sr=0.125", "done", work=100, seconds=90, finished_at=-300, top1=61.25),
              TrialView(1, "sr=0.25", "done", work=100, seconds=80, finished_at=-200, top1=68.5),
              TrialView(2, "sr=0.375", "failed", work=100, seconds=3, finished_at=-100, note="diverged"))
    now = (TrialView(3, "sr=0.5", "done", work=100, seconds=50, finished_at=60, top1=70.0),
           TrialView(4, "sr=0.625", "queued", work=100))
    log = SweepLog()
    lines = log(Snapshot(total=5, trials=before + now, elapsed=61, taken_at=T0), T0)
    assert lines[0] == ("[ 1m01s] already finished before this run: 3 of 5 (2 done, 1 failed); "
                        "best top-1 68.50% #1 sr=0.25")
    assert not any("#0 " in line or "#1 " in line or "#2 " in line for line in lines[1:])
    assert lines[1].startswith("[ 1m01s] #3 sr=0.5: top-1 70.00% in 50s · 4/5 done")
    assert log(Snapshot(total=5, trials=before + now, elapsed=62, taken_at=T0), T0) == []  # said once


def test_the_eta_counts_what_every_trial_takes_besides_its_work():
    """Finished trials of 100 and 300 work took 20 s and 40 s: 10 s each whatever their size (evaluation,
    latency, weights) and 0.1 s per unit of work; a queued one of 200 takes 30 s, not 200 x 60 / 400."""
    done = (TrialView(0, "a", "done", work=100, seconds=20, top1=1.0),
            TrialView(1, "b", "done", work=300, seconds=40, top1=1.0))
    snap = Snapshot(total=3, trials=(*done, TrialView(2, "c", "queued", work=200)), taken_at=T0)
    assert trial_time_model(snap) == pytest.approx((10.0, 0.1))
    assert eta_seconds(snap) == pytest.approx(30.0)
    assert eta_bounds(snap) == pytest.approx((30.0, 30.0))  # both fit the model exactly
    noisy = replace(snap, total=4, trials=(*done, TrialView(3, "d", "done", work=200, seconds=36, top1=1.0),
                                           snap.trials[2]))
    low, high = eta_bounds(noisy)
    assert low < eta_seconds(noisy) < high  # a trial off the line: the spread is said


def test_one_finished_trial_and_the_speed_test_split_a_trial_into_fixed_time_and_work():
    """The speed test did 10 work/s; the one finished trial of 100 work took 25 s: 10 s of work, 15 s fixed. A
    queued trial of 300 work: 15 + 30 s. Without the speed test, 300 at the trial's own 4 work/s."""
    snap = Snapshot(total=2, trials=(TrialView(0, "a", "done", work=100, seconds=25, top1=1.0),
                                     TrialView(1, "b", "queued", work=300)), taken_at=T0, rate=10.0)
    assert trial_time_model(snap) == pytest.approx((15.0, 0.1))
    assert eta_seconds(snap) == pytest.approx(45.0)
    assert eta_seconds(replace(snap, rate=None)) == pytest.approx(75.0)


def test_speed_tests_across_a_grid_give_a_curve_not_a_mac_scaling():
    """A grid's heaviest point has 6.8x the MACs of its lightest but its trial takes 3x as long on a CPU (the
    stem, pooling and evaluation do not grow): timed at its lightest, middle and heaviest points, the trials
    between are read off the straight lines joining them. Scaling one point's speed by MACs would count the
    heaviest at 6.8x."""
    timed = ((100.0, 300.0), (390.0, 500.0), (680.0, 900.0))  # (work, seconds) of the speed test's whole trial
    queued = tuple(TrialView(i, str(i), "queued", work=w) for i, w in enumerate((100.0, 245.0, 535.0, 680.0)))
    snap = Snapshot(total=4, trials=queued, taken_at=T0, rate=100 / 300, prior=timed)
    assert [prior_seconds(snap, w) for w in (100, 245, 390, 535, 680)] == pytest.approx([300, 400, 500, 700, 900])
    assert prior_seconds(snap, 50) == pytest.approx(300 - 50 * 200 / 290)  # extended from the end segments
    assert prior_seconds(snap, 970) == pytest.approx(1300)
    assert eta_seconds(snap) == pytest.approx(300 + 400 + 700 + 900)
    assert eta_seconds(replace(snap, workers=4)) == pytest.approx(2300 / 4)
    one = replace(snap, prior=timed[:1])  # one size timed: its speed scaled by MACs, as before
    assert prior_seconds(one, 100) is None and eta_seconds(one) == pytest.approx((100 + 245 + 535 + 680) * 3.0)


def test_the_speed_tests_curve_is_scaled_by_the_running_trials_pace():
    """A machine slower than during the speed test (another job took a core): the running trial, past its first
    epoch, took twice what the curve gives its finished share, so every trial left is counted at twice the curve."""
    running = TrialView(0, "a", "running", work=100, seconds=300, epoch=2, epochs=2, step=5, steps=10)  # 3/4 done
    queued = TrialView(1, "b", "queued", work=680)
    snap = Snapshot(total=2, trials=(running, queued), taken_at=T0, prior=((100.0, 200.0), (680.0, 900.0)))
    assert eta_seconds(snap) == pytest.approx((200 * 0.25 + 900) * 2)  # 300 s taken for 150 s of the curve
    cold = replace(running, epoch=1, seconds=30, step=2)  # still in its first epoch: the curve as it is
    assert eta_seconds(replace(snap, trials=(cold, queued))) == pytest.approx(200 * (1 - cold.fraction()) + 900)


def test_finished_trials_of_one_size_keep_the_curve_and_of_two_sizes_give_their_own_line():
    """After trials of the lightest point only, the heavy ones are not scaled by MACs from them: the speed tests'
    curve at the pace they kept. Once two sizes have finished, their own times are the line."""
    prior = ((100.0, 300.0), (680.0, 900.0))
    done = TrialView(0, "a", "done", work=100, seconds=600, top1=1.0)  # twice the curve's 300 s
    snap = Snapshot(total=2, trials=(done, TrialView(1, "b", "queued", work=680)), taken_at=T0, prior=prior,
                    rate=100 / 300)
    assert eta_seconds(snap) == pytest.approx(1800)
    two = (done, TrialView(1, "b", "done", work=390, seconds=700, top1=1.0), TrialView(2, "c", "queued", work=680))
    mixed = replace(snap, total=3, trials=two)
    assert trial_time_model(mixed) == pytest.approx((600 - 100 * 100 / 290, 100 / 290))
    assert eta_seconds(mixed) == pytest.approx(800)  # their line, not the curve's 900 at their pace
