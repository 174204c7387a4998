"""Play text turns against the simulated car: one case of an evaluation file, or one `say` turn.

Why a fresh car and session per case: an evaluation case states its own vehicle state and its earlier turns; the
car, the guard (rate limit, pending confirmations) and the dialogue history must not leak from one case into the
next. The assistant (the model) is shared: loading it once is what makes a 500-case run take seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .directory import Directory
from .evaluation import Case, TurnResult, evaluate, load_cases
from .guard import GuardConfig, SafetyGuard
from .session import Assistant, CockpitSession, Turn
from .simcar import SimCar

TURN_GAP_S = 2.0        # simulated time between two user turns (the car keeps sending state meanwhile)


def new_session(assistant: Assistant, vehicle_state: dict[str, Any] | None = None,
                guard_log: str | Path | None = None,
                guard_config: GuardConfig | None = None) -> tuple[SimCar, CockpitSession]:
    car = SimCar(vehicle_state)
    guard = SafetyGuard(guard_config or GuardConfig(), log_path=guard_log)
    return car, CockpitSession(assistant, car.link, guard, send=car.send,
                               directory=Directory.simulated())


def play(assistant: Assistant, dialogue: list[str] | tuple[str, ...], vehicle_state: dict[str, Any] | None = None,
         guard_log: str | Path | None = None, guard_config: GuardConfig | None = None) -> tuple[SimCar, list[Turn]]:
    """Every turn of `dialogue` in order; the car runs TURN_GAP_S between turns so state frames stay fresh."""
    car, session = new_session(assistant, vehicle_state, guard_log, guard_config)
    turns = []
    for text in dialogue:
        turns.append(session.handle(text, car.t))
        car.advance(TURN_GAP_S)
    return car, turns


def run_case(assistant: Assistant, case: Case, guard_config: GuardConfig | None = None) -> TurnResult:
    return play(assistant, case.dialogue, case.vehicle_state, guard_config=guard_config)[1][-1].result


def evaluate_file(assistant: Assistant, path: str | Path) -> dict[str, Any]:
    return evaluate(load_cases(path), lambda case: run_case(assistant, case))
