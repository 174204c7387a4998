"""The turn pipeline: assistant proposal -> guard -> CAN frames to the simulated car -> reply. The assistant here
is a scripted stand-in (the conversational model is not built yet); guard, CAN link and body ECUs are the real
ones."""
from __future__ import annotations

import pytest

from cockpit.guard import SafetyGuard
from cockpit.session import CockpitSession, Proposal
from test_cockpit_vehicle_link import Car


class Scripted:
    """Answers each turn text from a table; records what it was shown."""

    def __init__(self, table):
        self.table, self.seen = table, []

    def propose(self, dialogue, state, previous):
        self.seen.append((list(dialogue), state, list(previous)))
        return self.table[dialogue[-1]]


def session(table, speed_kph=0.0, log=None):
    car = Car(speed_kph)
    sent = []
    s = CockpitSession(Scripted(table), car.link, SafetyGuard(log_path=log),
                       send=lambda frames: (sent.extend(frames), car.ecus.receive(frames, car.t)))
    return car, s, sent


def test_accepted_call_reaches_the_car_and_the_reply_is_spoken():
    car, s, sent = session({"warmer please": Proposal("adjust_temperature", {"delta_celsius": 1.0}, reply="Warmer.")})
    t = s.handle("warmer please", car.t)
    assert (t.result.tool, t.reply, len(t.frames)) == ("adjust_temperature", "Warmer.", 1)
    assert sent == t.frames and car.cabin.state.setpoint_driver_c == 22.0
    assert s.assistant.seen[0][0] == ["warmer please"]


def test_guard_refusals_and_outcomes_send_nothing(tmp_path):
    car, s, sent = session({"open the boot": Proposal("open_trunk"),
                            "order a pizza": Proposal(outcome="refuse", reply="I can't order food."),
                            "bring the fog lights": Proposal("set_lights", {"target": "reading", "on": True,
                                                                            "color": "red"})},
                           speed_kph=50.0, log=tmp_path / "guard.jsonl")
    t = s.handle("open the boot", car.t)
    assert (t.result.outcome, t.decision.rule, sent) == ("refuse", "moving_trunk", [])
    t = s.handle("order a pizza", car.t)
    assert (t.result.outcome, t.reply, t.decision) == ("refuse", "I can't order food.", None)
    t = s.handle("bring the fog lights", car.t)                       # schema: colour only for the ambient light
    assert t.result.outcome == "refuse" and t.decision.rule == "schema" and not sent
    assert [e["rule"] for e in s.guard.log] == ["moving_trunk", "schema"]
    assert (tmp_path / "guard.jsonl").read_text().count("\n") == 2


def test_confirmation_turn_goes_to_the_guard_not_the_assistant():
    car, s, sent = session({"open all the windows": Proposal("set_window", {"window": "all", "open_percent": 100})},
                           speed_kph=120.0)
    t = s.handle("open all the windows", car.t)
    assert t.result.outcome == "clarify" and t.reply.startswith("Open all windows to 100 percent at 120")
    t = s.handle("yes", car.t + 1)
    assert t.result.tool == "set_window" and car.cabin.state.window_fl_target_pct == 100
    assert len(s.assistant.seen) == 1 and s.dialogue == ["open all the windows", "yes"]


def test_queries_answer_from_the_bus_and_unwired_or_stale_state_is_refused():
    car, s, sent = session({"how fast": Proposal("query_vehicle", {"item": "speed"}),
                            "mauve lights": Proposal("set_lights", {"target": "ambient", "on": True,
                                                                    "color": "mauve"}),
                            "ac on": Proposal("set_ac", {"on": True})}, speed_kph=72.0)
    t = s.handle("how fast", car.t)
    assert t.result.tool == "query_vehicle" and t.reply == "The speed is 72 kilometres per hour." and not t.frames
    t = s.handle("mauve lights", car.t)
    assert (t.result.outcome, t.decision.rule, t.reply) == ("refuse", "NotWired", "This car can't do that.")
    t = s.handle("ac on", car.t + 10.0)                                # no state frames for 10 s
    assert t.result.outcome == "refuse" and t.decision.rule == "StateUnavailable" and not sent
    with pytest.raises(ValueError, match="non-empty string"):
        s.handle("  ", car.t)


def test_proposal_shape_is_checked():
    with pytest.raises(ValueError, match="exactly one of tool or outcome"):
        Proposal()
    with pytest.raises(ValueError, match="outcome 'shrug' is not one of"):
        Proposal(outcome="shrug")


class Counting(Scripted):
    uses_state = False


def test_a_prepared_proposal_is_used_only_for_the_same_turn():
    """`prepare` computes the proposal ahead (a voice pipeline does it during the end-of-speech silence); `handle`
    uses it only for the same text at the same point of the dialogue, and nothing reaches the car before."""
    car = Car(0.0)
    sent = []
    table = {"warmer please": Proposal("adjust_temperature", {"delta_celsius": 1.0}, reply="Warmer."),
             "warmer please now": Proposal("adjust_temperature", {"delta_celsius": 2.0}, reply="Warmer.")}
    s = CockpitSession(Counting(table), car.link, SafetyGuard(), send=lambda frames: sent.extend(frames))
    assert s.prepare("warmer please", car.t) and len(s.assistant.seen) == 1 and not sent
    assert s.prepare("warmer please", car.t) and len(s.assistant.seen) == 1     # the same: not computed again
    t = s.handle("warmer please", car.t)
    assert s.prepared_hits == 1 and len(s.assistant.seen) == 1 and t.result.args["delta_celsius"] == 1.0
    assert sent == t.frames
    s.prepare("warmer please", car.t)                         # now a second turn: a new proposal with the history
    assert len(s.assistant.seen) == 2 and s.assistant.seen[-1][0] == ["warmer please", "warmer please"]
    t = s.handle("warmer please now", car.t)                  # the final words differ: computed afresh
    assert s.prepared_hits == 1 and len(s.assistant.seen) == 3 and t.result.args["delta_celsius"] == 2.0
    with pytest.raises(ValueError):
        s.handle("  ", car.t)
    assert not s.prepare("", car.t)


def test_a_prepared_proposal_of_a_state_reading_assistant_needs_the_same_state():
    car = Car(0.0)
    s = CockpitSession(Scripted({"warmer": Proposal("adjust_temperature", {"delta_celsius": 1.0})}), car.link,
                       SafetyGuard(), state_source=lambda now: {"t": now})
    s.prepare("warmer", 0.0)
    s.handle("warmer", 0.1)                                   # the state moved on: asked again
    assert s.prepared_hits == 0 and len(s.assistant.seen) == 2
    s.prepare("warmer", 0.2)
    s.handle("warmer", 0.2)
    assert s.prepared_hits == 1 and len(s.assistant.seen) == 3


def test_a_pending_confirmation_is_not_prepared():
    car = Car(120.0)
    s = CockpitSession(Counting({"open all the windows": Proposal("set_window", {"window": "all",
                                                                                  "open_percent": 100})}),
                       car.link, SafetyGuard())
    s.handle("open all the windows", car.t)
    assert s.guard.pending and not s.prepare("yes", car.t) and len(s.assistant.seen) == 1
