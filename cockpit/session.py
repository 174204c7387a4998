"""One conversation with the car: text turn in -> assistant proposal -> safety guard -> CAN frames -> reply.

Why this order: the assistant (the conversational model, or any other that speaks the catalog) only proposes;
the guard decides against the live state read from CAN; only accepted calls become frames, built by the
`VehicleLink` from the last received state. Free-text arguments are first resolved against the head unit's
directory (`directory.py`: "dr edwards" -> "Dr. Edwards"). A pending confirmation or clarification is answered by
the next turn before the assistant is asked again ("yes" confirms, "no" cancels); a request that tries to change
the rules, dictate a call or have the car driven is refused by the guard's screen before the assistant is asked
(`screen.py`). Every turn is kept (`transcript`) and every guard decision is in the guard's log. No ROS import:
the cockpit node and the CLI wrap this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import can

from .directory import Directory
from .evaluation import TurnResult
from .guard import Decision, SafetyGuard, VehicleState
from .replies import describe
from .vehicle_link import NotWired, StateUnavailable, VehicleLink

#: The assistant's answer to a turn: a tool call, or an outcome with a spoken reply (same shape as a turn's result).
Proposal = TurnResult


class Assistant(Protocol):
    def propose(self, dialogue: Sequence[str], state: VehicleState, previous: Sequence[TurnResult]) -> Proposal:
        """The proposal for the last user turn of `dialogue` (all turns so far, oldest first); `previous` is what
        each earlier turn ended in (follow-ups like "and the passenger side too" extend the last call)."""


@dataclass
class Turn:
    text: str
    stamp_s: float
    proposal: Proposal | None
    decision: Decision | None
    frames: list[can.Message]
    reply: str
    result: TurnResult

    def to_json(self) -> dict:
        """The turn as one JSON object: what `cockpit say/listen --json` print and the node publishes on
        /cockpit/turn (frames as {"id": "0x300", "data": hex})."""
        return {"text": self.text, "stamp_s": round(self.stamp_s, 3),
                "proposal": self.proposal.to_json() if self.proposal else None,
                "decision": self.decision.to_json() if self.decision else None,
                "frames": [{"id": f"0x{f.arbitration_id:03X}", "data": bytes(f.data).hex()} for f in self.frames],
                "reply": self.reply, "result": self.result.to_json()}


class CockpitSession:
    #: proposals `prepare` keeps until the next turn: a recogniser's partial hypothesis can go back and forth
    #: between readings during the silence ("make it warmer" / "like you to warm letter")
    PREPARED_KEPT = 4

    def __init__(self, assistant: Assistant, link: VehicleLink, guard: SafetyGuard | None = None,
                 send: Callable[[list[can.Message]], None] | None = None,
                 state_source: Callable[[float], VehicleState] | None = None,
                 directory: Directory | None = None) -> None:
        """`state_source(now)` gives the state the guard decides on (a ROS node: the vehicle-state topics);
        default: the state frames the link received from CAN. `directory`: the contacts, places and media that
        free-text arguments are resolved against before the guard (None: passed on as the model wrote them)."""
        self.assistant, self.link, self.directory = assistant, link, directory
        self.state_source = state_source or link.vehicle_state
        self.guard = guard or SafetyGuard()
        self.send = send or (lambda frames: None)
        self.transcript: list[Turn] = []
        self._prepared: list[tuple[tuple, Proposal]] = []    # (what it was proposed for, the proposal): `prepare`
        self.prepared_hits = 0        # turns whose proposal `prepare` had computed ahead

    def _key(self, text: str, state: VehicleState) -> tuple:
        # an assistant that declares `uses_state = False` (the shipped one) answers the same whatever the state;
        # otherwise a prepared proposal only stands for the very state it was made in
        return (tuple(self.dialogue + [text]), len(self.transcript),
                None if getattr(self.assistant, "uses_state", True) is False else state)

    def prepare(self, text: str, now: float) -> bool:
        """Compute the assistant's proposal for `text` as the next turn without acting on it, so that `handle`
        of the same text finds it ready: a voice pipeline calls this with the recogniser's partial hypothesis
        during the silence it waits out anyway (speculative, like a CPU's branch prediction: nothing reaches the
        guard or the bus until `handle`). Returns False where there is nothing to compute (a pending
        confirmation is answered by the guard, not the model)."""
        if not isinstance(text, str) or not text.strip() or self.guard.pending:
            return False
        if self.guard.screens(text):          # the guard's screen refuses it: no model
            return False
        state = self.state_source(now)
        key = self._key(text, state)
        if all(k != key for k, _ in self._prepared):     # keys hold the state: compared, not hashed
            self._prepared = self._prepared[-(self.PREPARED_KEPT - 1):] + [
                (key, self.assistant.propose(self.dialogue + [text], state, [t.result for t in self.transcript]))]
        return True

    @property
    def dialogue(self) -> list[str]:
        return [t.text for t in self.transcript]

    def handle(self, text: str, now: float) -> Turn:
        """Process one user turn at time `now` (seconds, the bus clock)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"turn text must be a non-empty string, got {text!r}")
        state = self.state_source(now)
        decision = self.guard.answer(text, state, now) if self.guard.pending else None
        proposal, args = None, None
        if decision is None:
            decision = self.guard.screen(text, now)      # an attempt to change the rules: refused, model not asked
        if decision is not None:
            self._prepared = []
        if decision is None:
            key = self._key(text, state)
            prepared = next((p for k, p in self._prepared if k == key), None)
            self._prepared = []
            if prepared is not None:
                proposal = prepared
                self.prepared_hits += 1
            else:
                proposal = self.assistant.propose(self.dialogue + [text], state,
                                                  [t.result for t in self.transcript])
            if proposal.outcome is not None:
                turn = Turn(text, now, proposal, None, [], proposal.reply,
                            TurnResult(outcome=proposal.outcome, reply=proposal.reply))
                self.transcript.append(turn)
                return turn
            args = proposal.args
            if self.directory is not None:
                args = self.directory.resolve(proposal.tool, args, text)
            decision = self.guard.propose(proposal.tool, args, state, now)
        turn = self._act(text, now, proposal, decision, renamed=proposal is not None and args != proposal.args)
        self.transcript.append(turn)
        return turn

    def _act(self, text: str, now: float, proposal: Proposal | None, decision: Decision,
             renamed: bool = False) -> Turn:
        if decision.outcome != "accept":
            outcome = "refuse" if decision.outcome == "refuse" else "clarify"
            return Turn(text, now, proposal, decision, [], decision.reply,
                        TurnResult(outcome=outcome, reply=decision.reply))
        frames: list[can.Message] = []
        try:
            for call in decision.calls:
                frames += self.link.frames_for(call, now)
        except (NotWired, StateUnavailable) as exc:
            reply = "I can't do that in this car right now." if isinstance(exc, StateUnavailable) else \
                "This car can't do that."
            failed = self.guard.record(Decision("refuse", type(exc).__name__, reply, detail=str(exc), stamp_s=now,
                                                proposed=decision.calls[0].to_json()))
            return Turn(text, now, proposal, failed, [], reply, TurnResult(outcome="refuse", reply=reply))
        self.send(frames)
        last = decision.calls[-1]
        if last.name == "query_vehicle":
            reply = self.link.query(last.args["item"], now).spoken
        else:
            own = proposal is not None and proposal.reply and not renamed    # a reply naming "dr edwards" is stale
            reply = (proposal.reply if own else None) or decision.reply or describe(last)
        return Turn(text, now, proposal, decision, frames, reply,
                    TurnResult(tool=last.name, args=dict(last.args), reply=reply))
