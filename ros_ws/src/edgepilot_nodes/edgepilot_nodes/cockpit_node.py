"""cockpit: the in-car assistant as a node. Text (/cockpit/text) or speech (a scripted WAV/utterance list in the
simulator) in -> conversational model -> safety guard -> body/ADAS command frames on CAN; replies out on
/cockpit/reply, every turn (proposal, guard decision, frames) as JSON on /cockpit/turn.

Thin adapter over cockpit.session: the guard decides on the vehicle-state topics (/vehicle/state speed,
/vehicle/adas_settings switches), falling back to the CAN state frames while no topic has arrived (unknown speed
counts as moving fast). Full-state body commands are built from the COCKPIT state frames read off the same bus.
`script` ("SECONDS UTTERANCE | ...") plays utterances mid-scenario, as text or, with
`script_speech: true`, spoken by espeak-ng through the voice pipeline.
"""
from __future__ import annotations

import json
import math

from cockpit.directory import Directory
from cockpit.guard import GuardConfig, SafetyGuard, VehicleState
from cockpit.session import CockpitSession
from cockpit.vehicle_link import VehicleLink
from canbus.bus import open_bus
from edgepilot.ros import Node, get_message
from edgepilot.ros.run_node import main_for

from .common import drain, seconds

String = get_message("std_msgs/msg/String")
VehicleStateMsg = get_message("edgepilot_interfaces/msg/VehicleState")
AdasSettings = get_message("edgepilot_interfaces/msg/AdasSettings")

STATE_TIMEOUT_S = 0.5


def parse_script(text: str) -> list[tuple[float, str]]:
    """`"3.0 open my window | 5.5 and the passenger side too"` -> sorted (sim time s, utterance); a bad entry is
    an error naming it. (A plain string, not a YAML list, so that launch arguments carry it unchanged.)"""
    out = []
    for i, entry in enumerate(e.strip() for e in str(text).split("|")):
        if not entry:
            continue
        t, _, utterance = entry.partition(" ")
        try:
            seconds_ = float(t)
            if not math.isfinite(seconds_) or not utterance.strip():
                raise ValueError
        except ValueError:
            raise ValueError(f"cockpit parameter script, entry {i} {entry!r}: expected 'SECONDS UTTERANCE'") from None
        out.append((seconds_, utterance.strip()))
    return sorted(out)


class CockpitNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("cockpit", **kwargs)
        from cockpit.model.assistant import DEFAULT_MODEL, GenAIAssistant
        from cockpit.model.intent import DEFAULT_INTENT

        can_bus = str(self.declare_parameter("can_bus", "virtual:edgepilot").value)
        rate_hz = float(self.declare_parameter("rate_hz", 20.0).value)
        model = str(self.declare_parameter("model_path", "").value) or str(DEFAULT_MODEL)
        guidance = bool(self.declare_parameter("guidance", True).value)
        prompt_style = str(self.declare_parameter("prompt_style", "auto").value)
        intent = str(self.declare_parameter("intent_path", "default").value)
        rerank = bool(self.declare_parameter("rerank", True).value)
        keep_refusal = bool(self.declare_parameter("keep_refusal", True).value)
        guard_log = str(self.declare_parameter("guard_log", "").value) or None
        screen_requests = bool(self.declare_parameter("screen_requests", True).value)
        self.script = parse_script(str(self.declare_parameter("script", "").value))
        self.script_speech = bool(self.declare_parameter("script_speech", False).value)
        asr_profile = str(self.declare_parameter("asr_profile", "espeak-ng").value)
        directory = str(self.declare_parameter("directory", "simulated").value)
        self.bus = open_bus(can_bus)
        self.link = VehicleLink()
        intent_dir = None if intent in ("", "none") else DEFAULT_INTENT if intent == "default" else intent
        assistant = GenAIAssistant(model, guidance=guidance, prompt_style=prompt_style, intent=intent_dir,
                                   rerank=rerank, keep_refusal=keep_refusal)
        self.session = CockpitSession(assistant, self.link,
                                      SafetyGuard(GuardConfig(screen_requests=screen_requests),
                                                  log_path=guard_log), send=self._send, state_source=self._state,
                                      directory=None if directory in ("", "none") else Directory.simulated()
                                      if directory == "simulated" else Directory.load(directory))
        self.voice = None
        if self.script_speech:
            from cockpit.voice.asr import PocketSphinxASR
            from cockpit.voice.pipeline import VoicePipeline

            self.voice = VoicePipeline(PocketSphinxASR(profile=asr_profile), self.session)
        self.speed_mps: float | None = None
        self.speed_t = -1e9
        self.adas: AdasSettings | None = None
        self.adas_t = -1e9
        self.pending: list[str] = []
        self.turns: list[str] = []                 # every turn's JSON, as published on /cockpit/turn
        self.reply_pub = self.create_publisher(String, "/cockpit/reply", 10)
        self.turn_pub = self.create_publisher(String, "/cockpit/turn", 10)
        self.create_subscription(String, "/cockpit/text", lambda m: self.pending.append(m.data), 10)
        self.create_subscription(VehicleStateMsg, "/vehicle/state", self.on_state, 10)
        self.create_subscription(AdasSettings, "/vehicle/adas_settings", self.on_adas, 10)
        self.create_timer(1.0 / rate_hz, self.on_timer)

    def on_state(self, msg) -> None:
        self.speed_mps, self.speed_t = float(msg.speed_mps), seconds(self)

    def on_adas(self, msg) -> None:
        self.adas, self.adas_t = msg, seconds(self)

    def _state(self, now: float) -> VehicleState:
        can_state = self.link.vehicle_state(now)
        if now - self.speed_t > STATE_TIMEOUT_S:
            return can_state
        kw = {"speed_kph": self.speed_mps * 3.6}
        if self.adas is not None and now - self.adas_t <= STATE_TIMEOUT_S:
            kw.update(adaptive_cruise=bool(self.adas.acc_enabled), lane_keeping=bool(self.adas.lka_enabled),
                      emergency_braking=bool(self.adas.aeb_enabled))
        else:
            kw.update(adaptive_cruise=can_state.adaptive_cruise, lane_keeping=can_state.lane_keeping,
                      emergency_braking=can_state.emergency_braking)
        return VehicleState(blind_spot_warning=can_state.blind_spot_warning, **kw)

    def _send(self, frames) -> None:
        for f in frames:
            self.bus.send(f)

    def on_timer(self) -> None:
        now = seconds(self)
        self.link.receive(drain(self.bus), now)
        while self.script and self.script[0][0] <= now:
            self.pending.append(self.script.pop(0)[1])
        while self.pending:
            self.handle(self.pending.pop(0), now)

    def handle(self, text: str, now: float) -> None:
        if self.voice is not None:
            from cockpit.voice.tts import spoken_clip

            heard = self.voice.push_to_talk(spoken_clip(text), now)
            turn = heard.turn if heard is not None else None
            said = {"said": text, "heard": heard.text if heard else ""}
        else:
            turn, said = self.session.handle(text, now), {"said": text}
        if turn is None:
            return
        record = json.dumps({**said, **turn.to_json()}, default=str)
        self.turns.append(record)
        self.reply_pub.publish(String(data=turn.reply))
        self.turn_pub.publish(String(data=record))
        self.get_logger().info(f"cockpit: {text!r} -> {turn.reply}")

    def destroy_node(self) -> None:
        try:
            self.bus.shutdown()
        finally:
            super().destroy_node()


main = main_for(CockpitNode)
