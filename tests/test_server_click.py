"""The engine's click request reaches Model.click, and bad clicks are refused.

An EngineServer runs in this process with a tiny model (never registered, so
no other test sees it); a real client talks to it over its sockets, and the
test hands each request to the server's handler itself (no thread).
"""

import numpy as np
import pytest

from attractor_lab.engine.transport.client import EngineError
from attractor_lab.engine.models.base import Model
from attractor_lab.engine.transport.protocol import REQUESTS
from tests.engine_helpers import in_process_engine


class _Clickable(Model):
    name = "clickable_test_model"
    views = ({"kind": "phase", "title": "toy", "click": "launch"},)

    def _reset(self):
        self.clicks = []

    def _step(self, n):
        pass

    def state(self):
        return {"last": np.array(self.clicks[-1] if self.clicks else [np.nan, np.nan])}

    def observables(self):
        return {"clicks": len(self.clicks), "nfe": np.int64(2**40 + 3), "mean": 0.5}

    def click(self, target, x, y):
        if target != "launch":
            raise ValueError(f"no click target {target!r}; this model takes 'launch'")
        self.clicks.append((x, y))


class _Unclickable(_Clickable):
    name = "unclickable_test_model"
    click = Model.click


@pytest.fixture
def served(tmp_path):
    with in_process_engine(tmp_path) as (server, client, call):
        # the reply's content (this module's tests send no arrays back)
        yield server, client, lambda verb, content: call(verb, content)[0]


def test_click_reaches_the_model(served):
    server, client, call = served
    assert "click" in REQUESTS
    server.model = _Clickable(device="cpu")
    server._frame_due = False
    assert call("click", {"target": "launch", "x": 0.25, "y": -3}) == {"status": "ok"}
    assert server.model.clicks == [(0.25, -3.0)]
    assert all(type(v) is float for v in server.model.clicks[0])
    assert server._frame_due  # the new trajectory is shown at once
    with pytest.raises(EngineError, match="no click target 'elsewhere'"):
        call("click", {"target": "elsewhere", "x": 0.0, "y": 0.0})
    assert len(server.model.clicks) == 1


@pytest.mark.parametrize("content, message", [
    ({"target": "launch", "x": float("nan"), "y": 0.0}, "'x' must be a finite number"),
    ({"target": "launch", "x": 0.0, "y": float("inf")}, "'y' must be a finite number"),
    ({"target": "launch", "x": "1", "y": 0.0}, "'x' must be a finite number"),
    ({"target": "launch", "x": True, "y": 0.0}, "'x' must be a finite number"),
    ({"target": "launch", "x": 0.0}, "missing field 'y'"),
    ({"target": 3, "x": 0.0, "y": 0.0}, "'target' must be a non-empty string"),
    ({"x": 0.0, "y": 0.0}, "missing field 'target'"),
])
def test_bad_clicks_are_refused(served, content, message):
    server, client, call = served
    server.model = _Clickable(device="cpu")
    with pytest.raises(EngineError, match=message):
        call("click", content)
    assert server.model.clicks == []


def test_a_model_without_clicks_says_so(served):
    server, client, call = served
    with pytest.raises(EngineError, match="no model loaded"):
        call("click", {"target": "launch", "x": 0.0, "y": 0.0})
    server.model = _Unclickable(device="cpu")
    with pytest.raises(EngineError, match="does not take clicks on 'launch'"):
        call("click", {"target": "launch", "x": 0.0, "y": 0.0})


def test_integer_observables_reach_the_client_exactly(served):
    server, client, call = served
    server.model = _Clickable(device="cpu")
    call("click", {"target": "launch", "x": 1.0, "y": 2.0})
    frame = None
    for _ in range(50):  # PUB/SUB: the subscription may still be on its way; publish until one arrives
        server.publish_frame()
        frame = client.recv_event(0.1)
        if frame is not None and frame.msg_type == "frame":
            break
    assert frame is not None and frame.msg_type == "frame"
    obs = frame.content["observables"]
    assert obs == {"clicks": 1, "nfe": 2**40 + 3, "mean": 0.5}
    assert type(obs["nfe"]) is int and type(obs["mean"]) is float
