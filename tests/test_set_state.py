"""set_state in the scripting API and restore_state, the engine's way to continue a run (issue 10)."""

import numpy as np
import pytest

from attractor_lab import engine


def test_reaction_diffusion_continues_exactly_from_a_restored_state():
    a = engine.create("gray_scott", grid=32, device="cpu", seed=1).step(40)
    frame = a.state()
    b = engine.create("gray_scott", grid=32, device="cpu", seed=2)  # another start entirely
    assert b.model.restore_state(frame, 40, a.time) == ["u", "v"]
    assert b.steps == 40 and b.time == a.time
    a.step(25), b.step(25)
    np.testing.assert_array_equal(a.state()["v"], b.state()["v"])


@pytest.mark.parametrize("arrays, message", [
    ({"u": np.zeros((31, 32))}, r"^gray_scott: set_state: 'u' must have shape \(32, 32\) \(the grid\), not \(31, 32\)$"),
    ({"v": np.zeros((32, 32, 1))}, r"^gray_scott: set_state: 'v' must have shape \(32, 32\) \(the grid\), not \(32, 32, 1\)$"),
    ({"v": np.full((32, 32), np.nan)}, "'v' must hold finite numbers"),
    ({"u": np.zeros((32, 32), bool)}, "'u' must hold finite numbers"),
    ({}, "needs u and/or v"),
])
def test_reaction_diffusion_set_state_checks_what_it_is_given(arrays, message):
    sim = engine.create("gray_scott", grid=32, device="cpu")
    before = sim.state()["u"].copy()
    with pytest.raises(ValueError, match=message):
        sim.set_state(**arrays)
    np.testing.assert_array_equal(sim.state()["u"], before)


def test_the_generic_set_state_writes_the_declared_fields_and_checks_them():
    sim = engine.create("rate_network", neurons=50, device="cpu", seed=0).step(3)
    x = np.linspace(-1, 1, 50)
    sim.set_state(x=x)
    np.testing.assert_allclose(sim.state()["x"], x, rtol=1e-6)
    with pytest.raises(ValueError, match=r"'x' must have shape \(50,\), not \(49,\)"):
        sim.set_state(x=x[:-1])
    with pytest.raises(ValueError, match="'x' must be finite; found 1 NaN/inf"):
        sim.set_state(x=np.where(np.arange(50) == 3, np.inf, x))
    with pytest.raises(ValueError, match="'x' must be float"):
        sim.set_state(x=np.zeros(50, complex))
    with pytest.raises(ValueError, match="set_state takes x, not raster"):
        sim.set_state(raster=x)


def test_models_with_their_own_set_state_stay_authoritative():
    ode = engine.create("ode_system", device="cpu", seed=0).step(10)
    other = engine.create("ode_system", device="cpu", seed=5)
    assert other.model.restore_state(ode.state(), 10, ode.time) == ["x_now"]
    assert other.model._t == pytest.approx(ode.time)  # the solve continues at the restored time
    ode.step(5), other.step(5)
    np.testing.assert_allclose(other.state()["x_now"], ode.state()["x_now"], rtol=1e-6, atol=1e-9)
    b = engine.create("burgers", grid=64, device="cpu").step(2)
    fresh = engine.create("burgers", grid=64, device="cpu", seed=3)
    assert fresh.model.restore_state(b.state(), 2, b.time) == ["u"]
    np.testing.assert_allclose(fresh.state()["u"], b.state()["u"], atol=1e-12)


def test_a_model_that_cannot_take_its_state_back_says_so():
    sim = engine.create("hopfield", neurons=64, device="cpu")
    with pytest.raises(ValueError, match="cannot take its state back from frames"):
        sim.model.restore_state(sim.state(), 1, 1.0)
    with pytest.raises(ValueError, match="declares no state_fields"):
        sim.set_state(spins=np.ones((8, 8)))


def test_seeds_are_checked_the_same_way_everywhere():
    for bad in (-1, 2**31, 2**70, 1.5, True):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 2147483647"):
            engine.create("gray_scott", grid=16, device="cpu", seed=bad)
    sim = engine.create("gray_scott", grid=16, device="cpu", seed=2**31 - 1)
    with pytest.raises(ValueError, match="seed must be an integer"):
        sim.reset(seed=-1)


def test_a_wrongly_shaped_set_state_request_is_answered_in_its_own_name(tmp_path):
    """Issue 18: the engine answered a set_state request with 'set_fields: expected shape …'."""
    from attractor_lab.engine.transport.client import EngineClient
    from attractor_lab.engine.transport.protocol import read_connection_file
    from attractor_lab.engine.transport.server import EngineServer

    server = EngineServer(tmp_path / "engine.json", device="cpu")
    client = EngineClient(read_connection_file(tmp_path / "engine.json"))

    def call(verb, content, arrays=None):
        client.send(verb, content, arrays)
        assert server.command.poll(5000), "the request did not arrive"
        server._handle_pending()
        msg = client.recv_reply(60.0)
        assert msg is not None, "no reply"
        return msg.content

    try:
        assert call("load", {"model": "gray_scott", "params": {"grid": 32}, "seed": 0})["status"] == "ok"
        reply = call("set_state", {"step": 3}, {"u": np.zeros((16, 16)), "v": np.zeros((32, 32))})
        assert reply["status"] == "error"
        text = " ".join(str(v) for v in reply.values())
        assert "set_fields" not in text
        assert "set_state: 'u' must have shape (32, 32) (the grid), not (16, 16)" in text, reply
        assert server.model.steps == 0  # refused: nothing changed
    finally:
        client.close()
        server.close()
