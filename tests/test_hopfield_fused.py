"""Fused Hopfield sweeps (engine/models/hopfield/_fused.py): networks of their own patterns,
seeds and temperatures stepped as one batch give each member exactly the states it gets alone.

The reference is each network stepped by itself (on the CPU, the compiled per-spin loop): equal
spins after every call, equal flips, equal energies — whatever the batch, chunk length or float
width. A batch is not a set of replicas: each member keeps its own disorder.
"""

import pytest
import torch

from attractor_lab import engine
from attractor_lab.engine.models import get
from attractor_lab.engine.models.base import FusedRuns
from attractor_lab.engine.models.hopfield import _fused
from attractor_lab.engine.models.hopfield._fused import FusedHopfield

Hopfield = get("hopfield")

MEMBERS = [  # (seed, params): temperatures across the transition, cue noise, dilution, replicas
    (3, dict(temperature=0.0)),
    (4, dict(temperature=0.35, cue_noise=0.25)),
    (5, dict(temperature=0.7)),
    (6, dict(temperature=1.1, start="random")),
    (7, dict(temperature=0.2, pattern_dilution=0.3)),
]


def make(seed, neurons=400, load=0.08, replicas=1, device="cpu", **params):
    return engine.create("hopfield", seed=seed, device=device, neurons=neurons, load=load, replicas=replicas,
                         **params).model


def alone_and_fused(members, calls=(5, 1, 14), device="cpu", **shared):
    alone = [make(seed, device=device, **shared, **p) for seed, p in members]
    together = [make(seed, device=device, **shared, **p) for seed, p in members]
    batch = Hopfield.fused(together)
    assert isinstance(batch, FusedHopfield)
    for n in calls:
        for m in alone:
            m.step(n)
        batch.step(n)
        for a, b in zip(alone, together):
            assert torch.equal(a.sigma, b.sigma), f"member seed {a.seed} differs after {a.steps} steps"
            assert a.last_flips == b.last_flips
            assert a.steps == b.steps and a.time == b.time
    return alone, together


def test_members_get_exactly_their_own_runs():
    alone, together = alone_and_fused(MEMBERS)
    for a, b in zip(alone, together):
        oa, ob = a.observables(), b.observables()
        assert oa["m_cued"] == ob["m_cued"] and oa["energy"] == ob["energy"]
        assert torch.equal(a.backend.m, b.backend.m)
    # the comparison has teeth: the members ended in different places, and flipped on the way
    m = sorted(a.observables()["m_cued"] for a in alone)
    assert m[-1] > 0.9 and m[0] < 0.3
    assert sum(a.last_flips for a in alone) > 0


def test_each_member_keeps_its_own_patterns():
    together = [make(seed, **p) for seed, p in MEMBERS[:3]]
    Hopfield.fused(together).step(2)
    assert not torch.equal(together[0].xi, together[1].xi)
    assert not torch.equal(together[1].xi, together[2].xi)


@pytest.mark.parametrize("chunk", [7, 64, 1024])
def test_chunk_length_and_replicas_change_nothing(monkeypatch, chunk):
    monkeypatch.setattr(_fused, "chunk_length", lambda n, flips, device_type: min(n, chunk))
    alone_and_fused(MEMBERS[:4], calls=(3, 6), replicas=3)


def test_the_float64_stack_gives_the_same_runs(monkeypatch):
    """Where P·N reaches 2^24 a float32 stack would round: the stack is float64 then
    (forced here at a small size)."""
    assert FusedHopfield([make(seed, **p) for seed, p in MEMBERS[:2]]).dtype == torch.float32
    monkeypatch.setattr(_fused, "FLOAT32_EXACT", 0)
    alone, together = alone_and_fused(MEMBERS[:3], calls=(4, 3))
    assert Hopfield.fused(together).dtype == torch.float64


def test_membership_does_not_matter():
    """A member's run is the same in a batch of two and in a batch of five."""
    small = [make(seed, **p) for seed, p in MEMBERS[1:3]]
    large = [make(seed, **p) for seed, p in MEMBERS]
    Hopfield.fused(small).step(12)
    Hopfield.fused(large).step(12)
    assert torch.equal(small[0].sigma, large[1].sigma) and torch.equal(small[1].sigma, large[2].sigma)


def test_a_live_temperature_change_applies():
    alone = make(9, temperature=0.0)
    member = make(9, temperature=0.0)
    other = make(10, temperature=0.5)
    batch = Hopfield.fused([member, other])
    batch.step(3)
    alone.step(3)
    for m in (alone, member):
        m.set(temperature=0.9)
    batch.step(5)
    alone.step(5)
    assert torch.equal(alone.sigma, member.sigma)


def test_fuse_keys():
    full = {p.name: p.default for p in Hopfield.params}
    key = Hopfield.fuse_key({**full, "temperature": 0.3, "load": 0.05})
    assert key is not None
    assert key == Hopfield.fuse_key({**full, "temperature": 1.2, "cue_noise": 0.4, "load": 0.05})
    assert key != Hopfield.fuse_key({**full, "temperature": 0.3, "load": 0.06})  # another P
    assert key != Hopfield.fuse_key({**full, "temperature": 0.3, "load": 0.05, "neurons": 1024})
    for other in (dict(update="parallel"), dict(interaction_order=3), dict(synaptic_dilution=0.2),
                  dict(learning_rule="projector")):
        assert Hopfield.fuse_key({**full, **other}) is None, other


def test_networks_without_the_overlap_path_step_one_by_one():
    """P ≥ N needs the explicit couplings: fused() falls back to stepping each member, same runs."""
    members = [(1, dict(temperature=0.2)), (2, dict(temperature=0.6))]
    alone = [make(s, neurons=64, load=1.2, **p) for s, p in members]
    together = [make(s, neurons=64, load=1.2, **p) for s, p in members]
    batch = Hopfield.fused(together)
    assert type(batch) is FusedRuns
    batch.step(4)
    for m in alone:
        m.step(4)
    assert all(torch.equal(a.sigma, b.sigma) for a, b in zip(alone, together))
    assert [m.steps for m in together] == [4, 4]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the fused batch on a GPU")
def test_on_cuda_a_member_runs_the_same_alone_or_fused():
    """On a GPU a sweep point takes the batch's exact integer path even alone (Hopfield.fused of
    one member), so its numbers never depend on the batch; the model's own step (chunked floats)
    makes the same physics, checked loosely (floats may decide a rare near-tie otherwise)."""
    alone = [make(seed, device="cuda", neurons=1024, **p) for seed, p in MEMBERS]
    together = [make(seed, device="cuda", neurons=1024, **p) for seed, p in MEMBERS]
    floats = [make(seed, device="cuda", neurons=1024, **p) for seed, p in MEMBERS]
    batch = Hopfield.fused(together)
    assert isinstance(batch, FusedHopfield) and together[0].sigma.device.type == "cuda"
    for m in alone:
        solo = Hopfield.fused([m])
        assert isinstance(solo, FusedHopfield)
        solo.step(15)
    batch.step(15)
    for m in floats:
        m.step(15)
    for a, b, f in zip(alone, together, floats):
        assert torch.equal(a.sigma, b.sigma)
        assert abs(f.observables()["m_cued"] - b.observables()["m_cued"]) < 0.1
