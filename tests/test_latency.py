import pytest
import torch

from dse.model import build_model
from dse.space import DesignPoint
from dse.stats import BUSY_SPREAD, relative_spread
from dse.study.keep import over_latency_budget
from dse.study.layout import LATENCY_ATTRS
from dse.train.latency import Latency, cpu_model, measure, point_latency

TINY = DesignPoint(base_e=8, incr_e=8, stem="v1_1", pooling="v1_1").for_data(10, 3, 32)


def test_point_latency_is_measured_and_recorded():
    before = torch.get_num_threads()
    lat = point_latency(TINY, runs=3, warmup=1, batch_size=4, threads=1)
    assert isinstance(lat, Latency)
    assert lat.single_ms > 0 and lat.batch_ms > 0 and lat.batch_image_ms == lat.batch_ms / 4
    assert (lat.threads, lat.runs, lat.warmup, lat.batch_size) == (1, 3, 1, 4)
    assert lat.cpu == cpu_model() and lat.cpu
    assert torch.get_num_threads() == before  # the caller's setting is restored
    attrs = lat.attrs()
    assert attrs["latency_ms"] == lat.single_ms and attrs["latency_threads"] == 1


def test_measure_leaves_a_training_model_as_it_was():
    model = build_model(TINY).train()
    lat = measure(model, (3, 32, 32), runs=2, warmup=0, batch_size=2)
    assert model.training and lat.single_ms > 0


def test_the_spread_of_the_runs_is_recorded_with_the_median():
    lat = point_latency(TINY, runs=9, warmup=1, batch_size=2, threads=1)
    assert lat.single_q1_ms <= lat.single_ms <= lat.single_q3_ms
    attrs = lat.attrs()
    assert (attrs["latency_q1_ms"], attrs["latency_q3_ms"]) == (lat.single_q1_ms, lat.single_q3_ms)
    assert set(attrs) == set(LATENCY_ATTRS)  # every attr of the study layout, no other
    assert lat.spread == relative_spread(lat.single_ms, lat.single_q1_ms, lat.single_q3_ms)
    assert lat.busy == (lat.spread > BUSY_SPREAD)
    calm = Latency(2.0, 20.0, 32, 20, 5, 1, "cpu", "2", 1.9, 2.1)
    loaded = Latency(2.0, 20.0, 32, 20, 5, 1, "cpu", "2", 1.5, 3.5)
    assert calm.spread == pytest.approx(0.1) and not calm.busy and loaded.busy


def test_a_point_over_the_latency_budget_says_its_spread_and_a_busy_machine():
    calm = Latency(6.0, 60.0, 32, 20, 5, 1, "cpu", "2", 5.9, 6.1)
    loaded = Latency(6.0, 60.0, 32, 20, 5, 1, "cpu", "2", 5.0, 9.0)
    assert over_latency_budget(calm, 5) == ("over the latency budget: 6.000 ms (median; middle half of the runs "
                                            "5.900-6.100 ms) > 5 ms per image on this CPU; not trained")
    assert over_latency_budget(loaded, 5).endswith("; the runs spread over 67% of their median: the machine was "
                                                    "busy, so the point may fit on an idle one")
