"""neural_ode: training, the solver's accounting, the regulariser, the adjoint, weights, views."""

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors
from torchdiffeq._impl.dopri5 import _DORMAND_PRINCE_SHAMPINE_TABLEAU
from torchdiffeq._impl.misc import _compute_error_ratio, _rms_norm
from torchdiffeq._impl.rk_common import _runge_kutta_step

from attractor_lab import engine
from attractor_lab.engine.models.base import SimulationDiverged
from attractor_lab.engine.models.neural_ode._fixed_points import MARGINAL, SADDLE, STABLE, UNSTABLE, find_fixed_points
from attractor_lab.engine.models.neural_ode._systems import SYSTEMS

#: a small, fast configuration (the limit cycle stays inside the data, so it learns in a few hundred steps)
SMALL = dict(target="van_der_pol", inputs="state", depth=2, width=32, trajectories=4, horizon=6.0, samples=120,
             window=8, batch=32)


def _small(**kw):
    return engine.create("neural_ode", seed=kw.pop("seed", 0), device="cpu", **{**SMALL, **kw})


def _fixed_batch(model, b=8, seed=5):
    g = torch.Generator().manual_seed(seed)
    n, s = model.data.shape[:2]
    return (torch.randint(0, n, (b,), generator=g), torch.randint(0, s - model.p["window"] + 1, (b,), generator=g))


def _grads(model):
    return torch.cat([q.grad.reshape(-1) for q in model.field.parameters()])


# ---- training -------------------------------------------------------------------------------------
# The spiral (torchdiffeq's ode_demo, the model's defaults): loss ÷10 within 500 iterations and the held-out
# forecast are checked on its preset, in test_neural_ode_presets.py.


def test_van_der_pol_mlp_and_ltc_learn():
    for field, factor in (("mlp", 20), ("ltc", 5)):
        sim = _small(field=field)
        before = sim.observables()
        sim.step(150)
        after = sim.observables()
        assert after["loss_train"] < before["loss_train"] / factor, (field, before["loss_train"], after["loss_train"])
        assert after["forecast_error"] < 0.5 * before["forecast_error"], field


def test_generic_mlp_on_the_spiral_learns_too():
    sim = engine.create("neural_ode", seed=0, device="cpu", inputs="state", depth=2, samples=400, window=5)
    before = sim.observables()["loss_train"]
    sim.step(120)
    assert sim.observables()["loss_train"] < before / 5


def test_training_is_reproducible_from_the_seed():
    a, b = _small(seed=3), _small(seed=3)
    a.step(3)
    b.step(3)
    assert a.observables()["loss"] == b.observables()["loss"]
    assert _small(seed=4).model.data[1, 0, 0] != a.model.data[1, 0, 0]  # another seed, other starts


def test_irregular_windows_read_their_own_times():
    sim = _small(irregular=True, dtype="float64", rtol=1e-10, atol=1e-12)
    m = sim.model
    traj, start = _fixed_batch(m, b=3)
    y, rel = m._windows(traj, start)
    assert not torch.allclose(rel[0], rel[1])  # really irregular
    assert (m.t_samples[:, 0] == 0).all() and (m.t_samples[:, -1] == m.p["horizon"]).all()
    with torch.no_grad():
        batched = m._predict(y[:, 0], rel)
        for i in range(3):
            alone = m._solve(y[i : i + 1, 0], rel[i])[:, 0]
            torch.testing.assert_close(batched[i], alone, rtol=1e-7, atol=1e-9)
    sim.step(2)
    assert math.isfinite(sim.observables()["loss"])


def test_noise_is_added_and_the_clean_loss_is_reported():
    sim = _small(noise=0.1)
    m = sim.model
    residual = (m.data.double() - m.clean).std()
    assert 0.08 < float(residual) < 0.12
    o = sim.observables()
    assert o["loss_train"] != o["loss_clean"]


# ---- solver accounting ----------------------------------------------------------------------------
@pytest.mark.parametrize("solver, stages", [("dopri5", 6), ("bosh3", 3)])
def test_nfe_counts_agree_with_torchdiffeqs_accounting(solver, stages):
    sim = _small(solver=solver)
    calls = [0]
    sim.model.field.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    for _ in range(4):
        before = calls[0]
        sim.step(1)
        s = sim.model._stats
        assert calls[0] - before == s["nfe_forward"] + s["nfe_backward"]
        # 2 calls to start (f(t0, y0) and the initial-step heuristic), then `stages` per step taken
        assert s["nfe_forward"] == 2 + stages * (s["steps_accepted"] + s["steps_rejected"])
        assert s["nfe_backward"] == 0  # backpropagation through the solver never calls f again
    o = sim.model.observables()  # (the scripting API gives floats; the engine's frames keep these integers)
    assert type(o["nfe_forward"]) is int and type(o["nfe_rollout"]) is int and o["nfe_rollout"] > o["nfe_forward"]


def test_adjoint_gradient_matches_backpropagation():
    kw = dict(dtype="float64", rtol=1e-10, atol=1e-12, batch=4)
    direct, adjoint = _small(**kw).model, _small(adjoint=True, **kw).model
    traj, start = _fixed_batch(direct, b=4)
    loss_d = direct._batch_loss(traj, start)[0]
    loss_a = adjoint._batch_loss(traj, start)[0]
    assert float(loss_d.detach()) == pytest.approx(float(loss_a.detach()), rel=1e-12)
    torch.testing.assert_close(_grads(adjoint), _grads(direct), rtol=1e-6, atol=1e-10)
    s = adjoint._stats
    # the adjoint solves each of the W - 1 intervals backwards: 2 + 6 per step in each
    assert s["nfe_backward"] == 2 * (adjoint.p["window"] - 1) + 6 * (
        s["steps_accepted_backward"] + s["steps_rejected_backward"])
    assert s["nfe_backward"] > 0 and direct._stats["nfe_backward"] == 0


# ---- the regulariser -----------------------------------------------------------------------------
def test_recorded_error_estimates_are_the_solvers_own():
    """Each recorded term is E_j · h_j with E_j the dopri5 error ratio that accepted step j."""
    sim = _small(dtype="float64", regularise=True, stiffness_weight=0.1)
    m = sim.model
    seen = []
    original = m.probe.callback_accept_step

    def spy(t0, y0, dt):
        seen.append((t0.detach().clone(), y0.detach().clone(), dt.detach().clone()))
        original(t0, y0, dt)

    m.probe.callback_accept_step = spy
    traj, start = _fixed_batch(m)
    m.optimizer.zero_grad()
    loss, total, r_e, r_s = m._batch_loss(traj, start)
    terms = m.probe.error_terms
    assert len(terms) == len(seen) == m._stats["steps_accepted"] > 1
    tableau = _DORMAND_PRINCE_SHAMPINE_TABLEAU
    with torch.no_grad():
        for (t0, y0, dt), term in zip(seen, terms):
            f0 = m.field(y0)
            y1, _, err, _ = _runge_kutta_step(lambda t, y, perturb=None: m.field(y), y0, f0, t0, dt, t0 + dt, tableau)
            ratio = _compute_error_ratio(err, m.p["rtol"], m.p["atol"], y0, y1, _rms_norm)
            assert float(term) == pytest.approx(float(ratio) * abs(float(dt)), rel=1e-9)
            assert float(ratio) <= 1.0  # accepted
    # differentiable: the total's gradient is the loss's plus w times R_E's (and w_S times R_S's)
    assert r_e.requires_grad and r_s.requires_grad and float(r_s.detach()) > 0
    g_total = _grads(m).clone()
    m.optimizer.zero_grad()
    loss_only = m._batch_loss(traj, start, backward=False)[0]
    loss_only.backward()
    assert not torch.allclose(g_total, _grads(m))
    total, loss, r_e, r_s = (float(v.detach()) for v in (total, loss, r_e, r_s))
    assert total == pytest.approx(loss + m.p["reg_weight"] * r_e + 0.1 * r_s, rel=1e-12)


@pytest.mark.slow
def test_regulariser_makes_the_field_cheaper_to_solve():
    """Same data, same start: with the regulariser the solver needs fewer steps over the same windows,
    while the data loss still falls (the benchmark measures the trade-off properly)."""
    nfe, loss = {}, {}
    for reg in (False, True):
        sim = _small(regularise=reg, reg_weight=1e-2, lr=3e-3, window=40)
        m = sim.model
        traj, start = _fixed_batch(m, b=32)
        m._batch_loss(traj, start, backward=False)
        loss0 = m._stats["loss"]
        sim.step(120)
        m._batch_loss(traj, start, backward=False)
        nfe[reg], loss[reg] = m._stats["nfe_forward"], m._stats["loss"]
        assert loss[reg] < loss0 / 5
    assert nfe[True] < nfe[False], nfe


@pytest.mark.parametrize("change, message", [
    (dict(adjoint=True), "'regularise' needs adjoint = false"),
    (dict(solver="bosh3", stiffness_weight=0.5), "'stiffness_weight' > 0 needs solver = 'dopri5'"),
    (dict(window=500), "parameter 'window' is 500; allowed 2..120"),
])
def test_impossible_combinations_are_refused(change, message):
    sim = _small(regularise=True)
    before = sim.params
    with pytest.raises(ValueError, match=message):
        sim.set(**change)
    assert sim.params == before


def test_forced_duffing_is_refused_at_reset():
    with pytest.raises(ValueError, match="'forcing' must be 0"):
        _small(target="duffing", forcing=0.5)
    sim = _small(target="duffing")  # unforced by default here
    assert sim.params["forcing"] == 0.0


def test_divergence_is_reported_and_keeps_the_last_good_weights():
    sim = _small()
    sim.step(2)
    good = {k: v.clone() for k, v in sim.model.field.state_dict().items()}
    with torch.no_grad():
        sim.model.data[0, :, 0] = float("nan")
        sim.model.data[1:, :, 0] = float("nan")
    with pytest.raises(SimulationDiverged, match="lower 'lr'"):
        sim.step(1)
    for k, v in sim.model.field.state_dict().items():
        assert torch.equal(v, good[k])


# ---- weights --------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["mlp", "ltc"])
def test_weights_round_trip_exactly(tmp_path, field):
    a = _small(field=field)
    a.step(3)
    path = a.model.save_weights(tmp_path / "w.safetensors")
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # atomic: no temporary left
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    config = json.loads(header["__metadata__"]["attractor_lab"])
    assert config["field"] == field and config["width"] == 32 and config["iteration"] == 3
    b = _small(field=field, seed=9)
    assert not torch.equal(a.model.field.state_dict()["f.layers.0.weight" if field == "ltc" else "net.layers.0.weight"],
                           b.model.field.state_dict()["f.layers.0.weight" if field == "ltc" else "net.layers.0.weight"])
    b.model.load_weights(path)
    for k, v in a.model.field.state_dict().items():
        assert torch.equal(v, b.model.field.state_dict()[k]), k
    x = torch.randn(5, 2)
    assert torch.equal(a.model.field(x), b.model.field(x))
    b.step(1)  # trains on from the loaded weights


def test_mismatched_weights_are_refused_with_the_mismatch_named(tmp_path):
    wide = _small(width=64)
    path = wide.model.save_weights(tmp_path / "wide.safetensors")
    narrow = _small()
    before = {k: v.clone() for k, v in narrow.model.field.state_dict().items()}
    with pytest.raises(ValueError, match=r"parameter 'width': file has 64, this model has 32 \(set width=64"):
        narrow.model.load_weights(path)
    ltc = _small(field="ltc")
    with pytest.raises(ValueError, match="parameter 'field': file has 'mlp', this model has 'ltc'"):
        ltc.model.load_weights(path)
    # a file whose configuration claims the right sizes but whose tensors do not fit
    config = json.dumps(narrow.model._config())
    tensors = {k: v.detach().clone() for k, v in narrow.model.field.state_dict().items()}
    tensors["net.layers.0.weight"] = torch.zeros(64, 2)
    forged = tmp_path / "forged.safetensors"
    forged.write_bytes(save_safetensors(tensors, metadata={"attractor_lab": config}))
    with pytest.raises(ValueError, match=r"layer 0 weight: file has \(64, 2\), this model has \(32, 2\)"):
        narrow.model.load_weights(forged)
    del tensors["net.layers.2.bias"]
    tensors["net.layers.0.weight"] = torch.zeros(32, 2)
    forged.write_bytes(save_safetensors(tensors, metadata={"attractor_lab": config}))
    with pytest.raises(ValueError, match=r"layer 2 bias \(net.layers.2.bias\) is missing from the file"):
        narrow.model.load_weights(forged)
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(save_safetensors({"x": torch.zeros(2)}))
    with pytest.raises(ValueError, match="no neural_ode configuration"):
        narrow.model.load_weights(plain)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x80\x04not safetensors at all")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        narrow.model.load_weights(junk)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        narrow.model.load_weights(tmp_path / "missing.safetensors")
    for k, v in narrow.model.field.state_dict().items():
        assert torch.equal(v, before[k])  # refused: untouched


# ---- fixed points, views ------------------------------------------------------------------------
def test_fixed_points_of_known_fields():
    p = {"damping": 0.3, "stiffness": -1.0, "cubic": 1.0, "forcing": 0.0, "frequency": 1.0, "gravity": 1.0,
         "mu": 1.0}
    f64 = torch.float64
    pts, codes, _ = find_fixed_points(lambda x: SYSTEMS["duffing"].field(0.0, x, p),
                                      torch.tensor([-2.0, -2.0], dtype=f64), torch.tensor([2.0, 2.0], dtype=f64))
    found = sorted((round(float(x), 6), round(float(y), 6), int(c)) for (x, y), c in zip(pts, codes))
    assert found == [(-1.0, 0.0, STABLE), (0.0, 0.0, SADDLE), (1.0, 0.0, STABLE)]
    pts, codes, _ = find_fixed_points(lambda x: SYSTEMS["van_der_pol"].field(0.0, x, p),
                                      torch.tensor([-3.0, -3.0], dtype=f64), torch.tensor([3.0, 3.0], dtype=f64))
    assert codes.tolist() == [UNSTABLE] and float(pts.abs().max()) < 1e-9
    sim = _small()
    st = sim.state()
    assert st["fp_true_kind"][0] == UNSTABLE and np.isnan(st["fp_true"][1:]).all()
    spiral = engine.create("neural_ode", seed=0, device="cpu").state()
    assert spiral["fp_true_kind"][0] == MARGINAL  # the cubic centre: J = 0 there


def test_views_find_their_arrays_and_observables():
    sim = _small(target="lorenz", samples=200, horizon=2.0)
    st, obs = sim.state(), sim.observables()
    for view in sim.model.views:
        for name in view.get("observables", []):
            assert name in obs, name
        for s in view.get("series", []):
            assert st[s["x"]].shape == st[s["y"]].shape, s
        if view["kind"] == "phase":
            for f in view["fields"]:
                assert st[f["u"]].shape == st[f["v"]].shape == (st[f["y"]].size, st[f["x"]].size)
            for t in view["trajectories"]:
                assert st[t["array"]].ndim == 3 and st[t["array"]].shape[-1] == 2
            for fp in view["fixed_points"]:
                assert st[fp["array"]].shape == (16, 2) and st[fp["kinds"]].shape == (16,)
    # the learned trajectory is split at the horizon: the rollout, a gap, the forecast from the last sample
    gap = np.flatnonzero(np.isnan(st["t_learned"]))
    assert len(gap) == 1 and st["t_learned"][gap[0] - 1] == st["t_learned"][gap[0] + 1] == 2.0
    assert st["horizon_t"].tolist() == [2.0, 2.0]
    assert obs["fixed_points_true"] == 3  # Lorenz: the origin and C±


def test_click_launches_true_and_learned_trajectories():
    sim = _small()
    sim.model.click("launch", 1.0, -1.0)
    st = sim.state()
    assert st["probe_true"][0, 0].tolist() == [1.0, -1.0]
    assert np.isfinite(st["probe_learned"][0]).all() and np.isnan(st["probe_true"][1:]).all()
    with pytest.raises(ValueError, match="does not take clicks on 'paint'"):
        sim.model.click("paint", 0.0, 0.0)


def test_display_mode_reuses_the_evaluation_but_scripts_get_the_current_one():
    sim = _small()
    m = sim.model
    m.display_mode = True
    first = m.observables()["loss_train"]
    sim.step(1)
    assert m.observables()["loss_train"] == first  # reused: evaluated a moment ago
    with m.exact_observables():
        assert m.observables()["loss_train"] != first
    before = m.observables()["nfe_rollout"]
    sim.set(rtol=1e-3, atol=1e-5)  # a change of what is measured is shown at once, even while displaying
    assert m.observables()["nfe_rollout"] < before


def test_recording_and_cli_run(tmp_path):
    import subprocess
    import sys

    from attractor_lab.engine.storage.presets import Preset, load_preset, save_preset
    from attractor_lab.engine.storage.recorder import Recorder, load_trajectory

    preset = Preset(model="neural_ode", params=dict(SMALL), seed=2, title="small", run={"every": 2})
    path = save_preset(preset, tmp_path / "small.toml")
    assert load_preset(path).params == SMALL
    out = tmp_path / "t.npz"
    r = subprocess.run([sys.executable, "-m", "attractor_lab.app.cli", "run", str(path), "--steps", "4", "--out", str(out),
                        "--device", "cpu", "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    t = load_trajectory(out)
    assert list(t["step"]) == [0, 2, 4]
    assert t["state/traj_learned"].shape[0] == 3 and t["state/fp_learned"].shape == (3, 16, 2)
    assert np.isnan(t["obs/loss"][0]) and np.isfinite(t["obs/loss"][1:]).all()
    # the same run through the scripting API
    sim = engine.create("neural_ode", seed=2, device="cpu", **SMALL)
    sim.step(4)
    assert sim.observables()["loss"] == pytest.approx(t["obs/loss"][-1], rel=1e-6)
    rec = Recorder(every=1)
    rec.capture(sim.steps, sim.model.time, sim.state(), sim.observables())
    assert "fp_learned" in rec.stacked()


# ---- the engine's weights request ------------------------------------------------------------------
def test_weights_request_saves_and_loads_through_the_engine(tmp_path):
    from attractor_lab.engine.transport.client import EngineClient, EngineError
    from attractor_lab.engine.transport.protocol import REQUESTS, read_connection_file
    from attractor_lab.engine.transport.server import EngineServer

    server = EngineServer(tmp_path / "engine.json", device="cpu")
    client = EngineClient(read_connection_file(tmp_path / "engine.json"))

    def call(verb, content):
        client.send(verb, content)
        assert server.command.poll(5000), "the request did not arrive"
        server._handle_pending()
        msg = client.recv_reply(60.0)
        assert msg is not None, "no reply"
        if msg.content.get("status") == "error":
            raise EngineError(msg.content)
        return msg.content

    try:
        assert "weights" in REQUESTS
        with pytest.raises(EngineError, match="no model loaded"):
            call("weights", {"action": "save", "path": str(tmp_path / "w.safetensors")})
        call("load", {"model": "neural_ode", "params": SMALL, "seed": 0})
        call("step", {"n": 2})
        reply = call("weights", {"action": "save", "path": str(tmp_path / "w.safetensors")})
        assert reply["path"] == str(tmp_path / "w.safetensors") and reply["step"] == 2
        saved = {k: v.clone() for k, v in server.model.field.state_dict().items()}
        call("reset", {"seed": 7})
        assert not torch.equal(server.model.field.state_dict()["net.layers.0.weight"], saved["net.layers.0.weight"])
        call("weights", {"action": "load", "path": str(tmp_path / "w.safetensors")})
        for k, v in server.model.field.state_dict().items():
            assert torch.equal(v, saved[k])
        call("set_params", {"params": {"width": 16}})
        call("reset", {})
        with pytest.raises(EngineError, match="parameter 'width': file has 32, this model has 16"):
            call("weights", {"action": "load", "path": str(tmp_path / "w.safetensors")})
        with pytest.raises(EngineError, match="action must be save or load"):
            call("weights", {"action": "delete", "path": "x"})
        with pytest.raises(EngineError, match="missing field 'path'"):
            call("weights", {"action": "save"})
        call("load", {"model": "gray_scott", "params": {"grid": 32}})
        with pytest.raises(EngineError, match="model 'gray_scott' has no trained weights to save"):
            call("weights", {"action": "save", "path": str(tmp_path / "g.safetensors")})
    finally:
        client.close()
        server.close()


@pytest.mark.parametrize("key, value, allowed", [
    ("width", -5, "an integer in [2, 1024]"),
    ("activation", "__import__", "one of 'tanh'"),
    ("depth", True, "an integer in [1, 8]"),
    ("field", ["mlp"], "one of 'mlp', 'ltc'"),
    ("dtype", "object", "one of 'float32', 'float64'"),
    ("dim", "2", "an integer in [1, 64]"),
])
def test_a_weights_file_with_invalid_metadata_is_called_invalid_never_a_value_to_set(tmp_path, key, value, allowed):
    """Issue 18: 'set width=-5 and reset first' was suggested; dtype 'object' loaded."""
    model = _small().model
    before = {k: v.clone() for k, v in model.field.state_dict().items()}
    config = {**model._config(), key: value}
    tensors = {k: v.detach().clone() for k, v in model.field.state_dict().items()}
    path = tmp_path / "bad.safetensors"
    path.write_bytes(save_safetensors(tensors, metadata={"attractor_lab": json.dumps(config)}))
    with pytest.raises(ValueError) as info:
        model.load_weights(path)
    message = str(info.value)
    assert message.startswith(f"load_weights: {path}: the file is invalid: its metadata's {key!r} is {value!r}; "
                              "allowed: "), message
    assert allowed in message and "set " not in message and "reset first" not in message
    for k, v in model.field.state_dict().items():
        assert torch.equal(v, before[k])  # refused: untouched


def test_a_weights_file_whose_tensors_are_not_the_declared_dtype_is_refused(tmp_path):
    model = _small().model
    config = model._config()  # says float32
    tensors = {k: v.detach().to(torch.int64) for k, v in model.field.state_dict().items()}
    path = tmp_path / "ints.safetensors"
    path.write_bytes(save_safetensors(tensors, metadata={"attractor_lab": json.dumps(config)}))
    with pytest.raises(ValueError, match=r"the file is invalid: .* is stored as int64, its metadata says dtype "
                                         r"'float32'"):
        model.load_weights(path)
    missing = {k: v for k, v in config.items() if k != "activation"}
    path.write_bytes(save_safetensors({k: v.detach().clone() for k, v in model.field.state_dict().items()},
                                      metadata={"attractor_lab": json.dumps(missing)}))
    with pytest.raises(ValueError, match=r"the file is invalid: its metadata has no 'activation' \(expected one of"):
        model.load_weights(path)
