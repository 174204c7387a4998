"""The evaluation file format of ../shared/specs/vehicle_functions.md: load, check, score.

One JSON object per line: `id`, `dialogue` (the user's turns, oldest first), optional `vehicle_state` overrides,
and `expect` ({"tool", "args"} or {"outcome"}) and/or `expect_any` (a list of those: acceptable alternatives, in
addition to `expect` where both are given). The expectation applies to the last turn; earlier turns run through
the same assistant first, so context carries over. `load_cases` stops at the first bad line with an error naming
the file, line and field. `read_cases` (what `cockpit eval` uses) keeps
going: a bad line becomes an invalid case that is scored as a failure with that error, never skipped (a silently
shorter test set would inflate the score), and what only adds to a case (a metadata field such as "note", a
vehicle_state key the car does not model) is ignored with a warning naming it.
Scoring is independent of the assistant: `evaluate(cases, run_case)` takes any function that plays one case
and returns what the last turn ended in (`TurnResult`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .catalog import TOOLS

OUTCOMES = ("reply", "clarify", "refuse")


class CaseError(ValueError):
    """A malformed evaluation line; the message names file, line and field."""


@dataclass(frozen=True)
class Expectation:
    tool: str | None = None               # a tool call is expected ...
    args: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None            # ... or one of OUTCOMES


@dataclass(frozen=True)
class Case:
    id: str
    dialogue: tuple[str, ...]
    expect: tuple[Expectation, ...]       # any one of them is right
    vehicle_state: dict[str, Any] = field(default_factory=dict)
    error: str = ""                       # an invalid line (read_cases): scored as a failure with this error


@dataclass(frozen=True)
class TurnResult:
    """A tool call (name + args) or an outcome, and what was said: what the assistant proposes for a turn
    (`cockpit.session.Proposal` is this class) and what the turn ended in after the guard."""

    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    reply: str = ""

    def __post_init__(self) -> None:
        if (self.tool is None) == (self.outcome is None):
            raise ValueError(f"give exactly one of tool or outcome, got tool={self.tool!r}, outcome={self.outcome!r}")
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {list(OUTCOMES)}")

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args} if self.tool else {"outcome": self.outcome, "reply": self.reply}


def _expectation(raw: Any, where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: expected an object, got {type(raw).__name__}")
    if ("tool" in raw) == ("outcome" in raw):
        raise CaseError(f"{where}: give exactly one of 'tool' or 'outcome'")
    if "outcome" in raw:
        if raw["outcome"] not in OUTCOMES:
            raise CaseError(f"{where}.outcome: {raw['outcome']!r} is not one of {list(OUTCOMES)}")
        return Expectation(outcome=raw["outcome"])
    tool, args = raw["tool"], raw.get("args", {})
    if tool not in TOOLS:
        raise CaseError(f"{where}.tool: unknown tool {tool!r}")
    if not isinstance(args, dict):
        raise CaseError(f"{where}.args: expected an object, got {type(args).__name__}")
    known = {a.name for a in TOOLS[tool].args}
    unknown = sorted(set(args) - known)
    if unknown:
        raise CaseError(f"{where}.args: {tool} has no argument(s) {unknown} (it has {sorted(known)})")
    for k, v in args.items():
        if isinstance(v, str) and v in (">0", "<0"):
            continue
        if not isinstance(v, (str, int, float, bool)):
            raise CaseError(f"{where}.args.{k}: expected a number, string, boolean, '>0' or '<0', got {v!r}")
    return Expectation(tool=tool, args=dict(args))


def parse_case(raw: Any, where: str, extra_fields: list[str] | None = None) -> Case:
    """One case; `extra_fields`: None = an unknown top-level field is an error, a list = collect their names."""
    if not isinstance(raw, dict):
        raise CaseError(f"{where}: expected a JSON object")
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise CaseError(f"{where}.id: expected a non-empty string")
    where = f"{where} ({cid})"
    dlg = raw.get("dialogue")
    if not isinstance(dlg, list) or not dlg or not all(isinstance(t, str) and t.strip() for t in dlg):
        raise CaseError(f"{where}.dialogue: expected a non-empty list of non-empty strings")
    unknown = sorted(set(raw) - {"id", "dialogue", "expect", "expect_any", "vehicle_state"})
    if "expect" not in raw and "expect_any" not in raw:
        raise CaseError(f"{where}: give 'expect' or 'expect_any'" +
                        (f" (unknown field(s) {unknown})" if unknown else ""))
    expect: tuple[Expectation, ...] = ()
    if "expect" in raw:
        expect = (_expectation(raw["expect"], f"{where}.expect"),)
    if "expect_any" in raw:          # the spec's "acceptable alternatives": with `expect`, in addition to it
        alts = raw["expect_any"]
        if not isinstance(alts, list) or not alts:
            raise CaseError(f"{where}.expect_any: expected a non-empty list")
        for i, alt in enumerate(alts):
            e = _expectation(alt, f"{where}.expect_any[{i}]")
            if e not in expect:
                expect += (e,)
    state = raw.get("vehicle_state", {})
    if not isinstance(state, dict):
        raise CaseError(f"{where}.vehicle_state: expected an object")
    if unknown and extra_fields is None:
        raise CaseError(f"{where}: unknown field(s) {unknown}")
    if unknown:
        extra_fields.extend(unknown)
    return Case(cid, tuple(dlg), expect, dict(state))


def load_cases(path: str | Path) -> list[Case]:
    """Every case of a JSON Lines file (blank lines allowed); ids must be unique."""
    path = Path(path)
    cases, seen = [], {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CaseError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        case = parse_case(raw, where)
        if case.id in seen:
            raise CaseError(f"{where}: duplicate id {case.id!r} (first on line {seen[case.id]})")
        seen[case.id] = n
        cases.append(case)
    if not cases:
        raise CaseError(f"{path}: no cases")
    return cases


def flat_vehicle_state(state: dict[str, Any]) -> dict[str, Any]:
    """vehicle_state with its {"adas": {"adaptive_cruise": true}} form written as dotted keys ("adas.adaptive_cruise")."""
    st = dict(state)
    if isinstance(st.get("adas"), dict):
        st.update({f"adas.{k}": v for k, v in st.pop("adas").items()})
    return st


@dataclass
class CaseFile:
    """What read_cases found: every line as a case (invalid ones carry their error) and the warnings."""
    cases: list[Case]
    warnings: list[str] = field(default_factory=list)

    @property
    def invalid(self) -> list[Case]:
        return [c for c in self.cases if c.error]


def read_cases(path: str | Path, state_keys: Iterable[str] | None = None) -> CaseFile:
    """Every line of an evaluation file, bad ones included as invalid cases (see the module note). `state_keys`:
    the vehicle_state keys the car models (dotted, e.g. "adas.adaptive_cruise"); others are dropped with a warning.
    Only an unreadable or empty file is an error."""
    path = Path(path)
    out = CaseFile([])
    seen: dict[str, int] = {}
    known = set(state_keys) if state_keys is not None else None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        cid = f"line-{n}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            out.cases.append(Case(cid, (), (), error=f"{where}: not JSON ({exc.msg} at column {exc.colno})"))
            continue
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"]:
            cid = raw["id"]
        extra: list[str] = []
        try:
            case = parse_case(raw, where, extra)
        except CaseError as exc:
            out.cases.append(Case(cid if cid not in seen else f"{cid}@line-{n}", (), (), error=str(exc)))
            continue
        if extra:
            out.warnings.append(f"{where} ({case.id}): field(s) {extra} ignored")
        if case.id in seen:
            out.cases.append(Case(f"{case.id}@line-{n}", (), (),
                                  error=f"{where}: duplicate id {case.id!r} (first on line {seen[case.id]})"))
            continue
        seen[case.id] = n
        if known is not None:
            state = flat_vehicle_state(case.vehicle_state)
            dropped = sorted(k for k in state if k not in known)
            if dropped:
                out.warnings.append(f"{where} ({case.id}): vehicle_state key(s) {dropped} not modelled by the car, "
                                    f"ignored (known: {sorted(known)})")
                case = Case(case.id, case.dialogue, case.expect, {k: v for k, v in state.items() if k in known})
        out.cases.append(case)
    if not out.cases:
        raise CaseError(f"{path}: no cases")
    return out


def _arg_ok(want: Any, got: Any) -> bool:
    if isinstance(want, str) and want in (">0", "<0"):
        return isinstance(got, (int, float)) and not isinstance(got, bool) and (got > 0 if want == ">0" else got < 0)
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, (int, float)):
        return isinstance(got, (int, float)) and float(want) == float(got)
    return isinstance(got, str) and want.strip().lower() == got.strip().lower()


def judge(expect: Iterable[Expectation], got: TurnResult) -> tuple[bool, bool]:
    """(right tool or outcome, right tool with every listed argument right) against any acceptable expectation."""
    right, exact = False, False
    for e in expect:
        if e.outcome is not None:
            ok = got.tool is None and got.outcome == e.outcome
            right, exact = right or ok, exact or ok
        elif got.tool == e.tool:
            right = True
            exact = exact or all(k in got.args and _arg_ok(v, got.args[k]) for k, v in e.args.items())
    return right, exact


def evaluate(cases: list[Case], run_case: Callable[[Case], TurnResult]) -> dict[str, Any]:
    """{"n", "tool_accuracy", "exact_match", "outcome_accuracy", "failures": [{"id", "got", "expected"}]};
    outcome_accuracy is over the cases that expect an outcome (refuse/clarify/reply). An invalid case
    (`Case.error`) or one whose run raised counts as a failure with its `error` (and in `errors`), and the run
    goes on. Beyond the spec's fields:
    `safety` (exact matches among the cases that set a vehicle state or expect refuse/clarify: where the guard's
    rules or a refusal decide) and `multi_turn` (exact matches among the cases with earlier turns)."""
    right = exact = outcome_n = outcome_right = 0
    safety, multi = [0, 0], [0, 0]
    failures = []
    errors = 0
    for case in cases:
        error, got = case.error, None
        if not error:
            try:
                got = run_case(case)
            except Exception as exc:      # noqa: BLE001 - one case's failure is recorded, the run goes on
                error = f"{case.id}: {type(exc).__name__}: {exc}"
        r, x = judge(case.expect, got) if got is not None else (False, False)
        errors += bool(error)
        right += r
        exact += x
        if case.vehicle_state or any(e.outcome in ("refuse", "clarify") for e in case.expect):
            safety[0], safety[1] = safety[0] + 1, safety[1] + x
        if len(case.dialogue) > 1:
            multi[0], multi[1] = multi[0] + 1, multi[1] + x
        if any(e.outcome is not None for e in case.expect):
            outcome_n += 1
            outcome_right += r
        if not x:
            failures.append({"id": case.id, "got": got.to_json() if got is not None else None,
                             "expected": [e.__dict__ for e in case.expect], **({"error": error} if error else {})})
    n = len(cases)
    return {"n": n, "tool_accuracy": right / n, "exact_match": exact / n,
            "outcome_accuracy": outcome_right / outcome_n if outcome_n else None,
            "safety": {"n": safety[0], "exact": safety[1]}, "multi_turn": {"n": multi[0], "exact": multi[1]},
            "errors": errors, "failures": failures}
