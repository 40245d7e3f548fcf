import torch

from dse.model import build_model
from dse.space import DesignPoint
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
