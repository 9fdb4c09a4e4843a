"""Device choice, and the CUDA path where a GPU exists."""

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.device import choose_device, configure_torch, describe
from attractor_lab.engine.models import names

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device on this machine (the CPU path is tested everywhere)")


def test_auto_picks_cuda_only_when_present():
    assert choose_device("auto").type == ("cuda" if CUDA else "cpu")
    assert choose_device(None).type == ("cuda" if CUDA else "cpu")
    assert choose_device("cpu") == torch.device("cpu")


def test_bad_devices_are_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda"):
        choose_device("tpu")
    if not CUDA:
        with pytest.raises(ValueError, match="CUDA is not available"):
            choose_device("cuda")
        with pytest.raises(ValueError, match="CUDA is not available"):
            engine.create("gray_scott", device="cuda")


def test_engine_defaults_flush_subnormals_and_threads():
    threads = configure_torch()
    assert threads >= 1
    tiny = torch.tensor([1e-40], dtype=torch.float32)  # subnormal in float32
    assert (tiny * 1.0).item() == 0.0
    assert describe(torch.device("cpu")).startswith("cpu (")


@needs_cuda
@pytest.mark.parametrize("name", names())
def test_models_stay_on_the_gpu(name):
    small = {"grid": 64, "neurons": 1024}
    params = {k: v for k, v in small.items() if k in {p.name for p in engine.models.get(name).params}}
    sim = engine.create(name, seed=0, device="cuda", **params)
    sim.step(3)
    for key, value in sim.model.state().items():
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.numel() > 16:
            assert value.device.type == "cuda", f"{name}: state {key!r} left the GPU"
    assert all(np.isfinite(v) or np.isnan(v) for v in sim.observables().values())


@needs_cuda
def test_gray_scott_cuda_agrees_with_cpu():
    # no noise: CPU and CUDA generators draw different numbers for the same seed
    kw = dict(seed=2, grid=64, dtype="float64", scheme="euler", seeding="centre_square", noise=0.0)
    cpu = engine.create("gray_scott", device="cpu", **kw).step(200).state()["v"]
    gpu = engine.create("gray_scott", device="cuda", **kw).step(200).state()["v"]
    np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-12)
