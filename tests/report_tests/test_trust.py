"""What a reader must know: the training budget, the dataset in plain words, warnings, which split chose."""

from __future__ import annotations

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from dse.report.frame import study_data
from dse.report.pareto import pareto_front
from dse.report.points import point_stats
from dse.report.size import accuracy_vs_size
from dse.report.trust import dataset_label, selection, study_warnings, training_budget

from .studies import make_search, make_sweep


def test_budget_reads_the_sweep_definition():
    study = make_sweep(None, "b", {"sr": (0.5,)}, seeds=3, epochs=12, dataset="fashion-mnist")
    budget = training_budget(study_data(study))
    assert budget.dataset == "Fashion-MNIST" and budget.epochs == "12 epochs" and budget.seeds == "3 seeds"
    plain = optuna.create_study()
    plain.add_trial(create_trial(value=1.0, params={"x": 1}, distributions={"x": IntDistribution(0, 2)},
                                 state=TrialState.COMPLETE))
    assert "unknown dataset" in training_budget(study_data(plain)).text


def test_study_warnings_read_the_definition():
    low = study_data(make_sweep(None, "low", {"sr": (0.25, 0.5)}, seeds=1, shift=-60.0))
    (warning,) = study_warnings(low)
    assert "chance" in warning
    sa = accuracy_vs_size(low)
    assert sa.warnings == (warning,) and sa.chance["top1"] == 10.0
    ok = study_data(make_sweep(None, "ok", {"sr": (0.25, 0.5)}, seeds=1))
    assert study_warnings(ok) == []
    small = study_data(make_sweep(None, "few", {"sr": (0.25, 0.5)}, seeds=1))
    small.spec["subset"] = 1000  # 1000 // 256 = 3 steps an epoch
    assert any("only 3 optimizer steps" in w for w in study_warnings(small))


def test_dataset_labels_in_plain_words():
    assert dataset_label("folder:data/cifar10-jpeg") == "CIFAR-10 (JPEG folder)"
    assert dataset_label("folder:/x/flowers/") == "folder flowers"
    assert dataset_label("fashion-mnist") == "Fashion-MNIST"


def test_old_studies_without_validation_fall_back_to_test_and_say_so():
    data = study_data(make_search(None, n=8))
    chosen = selection(point_stats(data))
    assert chosen.split == "test" and "no validation split" in chosen.text
    assert len(pareto_front(data).front) >= 1
