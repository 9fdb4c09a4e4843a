"""A reaction–diffusion kernel compiled here before is compiled again from the first
step of the next launch (inductor's on-disk cache makes that take seconds), in the
background, the model stepping eagerly meanwhile; one never compiled waits until the
model has run COMPILE_AFTER_STEPS. torch.compile is replaced by a stand-in whose
compile waits for the test: no real compile, no timed asserts."""

import threading

import numpy as np
import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models.reaction_diffusion import _numerics as num
from attractor_lab.engine.models.reaction_diffusion.core import COMPILE_AFTER_STEPS


@pytest.fixture
def fake_compile(monkeypatch, tmp_path):
    """torch.compile stand-in: a kernel's first call (the compile) waits for ``gate``;
    ``calls`` counts the compiled kernels' calls after it."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "auto")
    monkeypatch.setattr(num, "compiler_available", lambda device: True)
    gate, calls = threading.Event(), []

    def compile_(fn, **kwargs):
        compiled_yet = []

        def kernel(*args):
            if not compiled_yet:
                assert gate.wait(60), "the test never let the compile finish"
                compiled_yet.append(True)
            else:
                calls.append(fn)
            return fn(*args)

        return kernel

    monkeypatch.setattr(torch, "compile", compile_)
    return gate, calls


def _example(sim):
    return (sim.model._fields, sim.model._prm_tensor)


def test_kernel_compiled_before_is_compiled_from_the_first_frames(fake_compile, tmp_path):
    gate, calls = fake_compile
    cold = engine.create("gray_scott", device="cpu", grid=64, seed=1)
    cold.step(40)
    stepper = cold.model._stepper()
    assert not stepper.busy and stepper.compiled is None  # never compiled here: not yet
    assert not num.compiled_record().exists()

    num.remember_compiled(stepper.signature(_example(cold)))  # as the last launch did
    assert (tmp_path / "inductor" / "attractor_lab" / "compiled.json").is_file()
    warm = engine.create("gray_scott", device="cpu", grid=64, seed=1)
    warm.step(40)
    stepper = warm.model._stepper()
    assert stepper.busy  # compiling in the background from the first step
    assert warm.model.steps == 40 and stepper.compiled is None and not calls  # frames served eagerly meanwhile
    warm.step(40)
    assert warm.model.steps == 80 and not calls
    gate.set()
    stepper.wait(60)
    assert stepper.compiled is not None and stepper.compiled_block is not None and not stepper.failed
    warm.step(40)  # now on the compiled kernels
    assert len(calls) == 40 // num.FUSED_BLOCK_STEPS["euler"]
    # the same numbers as an eager run (the stand-in runs the fused kernels themselves)
    eager = engine.create("gray_scott", device="cpu", grid=64, seed=1)
    eager.step(120)
    np.testing.assert_allclose(warm.state()["v"], eager.state()["v"], atol=2e-6)


def test_a_finished_compile_is_remembered(fake_compile, monkeypatch):
    gate, calls = fake_compile
    gate.set()
    monkeypatch.setattr("attractor_lab.engine.models.reaction_diffusion.core.COMPILE_AFTER_STEPS", 10)
    sim = engine.create("gray_scott", device="cpu", grid=64, seed=1)
    sim.step(20)
    sim.step(4)  # the compile is asked for at a chunk's start, once 10 steps have run
    stepper = sim.model._stepper()
    stepper.wait(60)
    assert stepper.compiled is not None
    assert num.compiled_before(stepper.signature(_example(sim)))
    # another grid is another kernel: not compiled before
    other = engine.create("gray_scott", device="cpu", grid=96, seed=1)
    assert not num.compiled_before(other.model._stepper().signature(_example(other)))
    assert COMPILE_AFTER_STEPS > 40  # the first test's cold model stays eager for its 40 steps


def test_a_broken_record_is_no_record(fake_compile):
    path = num.compiled_record()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert not num.compiled_before("anything")
    num.remember_compiled("k1")  # replaced by a good one
    assert num.compiled_before("k1") and not num.compiled_before("k2")


def test_the_compiler_is_preloaded_only_where_it_compiled_before(fake_compile, monkeypatch):
    from attractor_lab.engine.device import preload_compiler

    assert preload_compiler() is None  # never compiled here: nothing to preload
    num.remember_compiled("k1")
    thread = preload_compiler()
    assert thread is not None
    thread.join(300)
    import sys

    assert "torch._inductor.compile_fx" in sys.modules
    monkeypatch.setenv("ATTRACTOR_LAB_COMPILE", "0")
    assert preload_compiler() is None  # compiling off
