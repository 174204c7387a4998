"""The spec's evaluation format: loading with errors that name file, line and field; the scoring rules."""
from __future__ import annotations

import json

import pytest

from cockpit.evaluation import Case, CaseError, Expectation, TurnResult, evaluate, judge, load_cases

SPEC_EXAMPLE = {"id": "clim-001", "dialogue": ["it's freezing in here"], "vehicle_state": {"speed_kph": 50},
                "expect": {"tool": "adjust_temperature", "args": {"delta_celsius": ">0"}}}


def write(tmp_path, rows):
    p = tmp_path / "cases.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


def test_loads_the_spec_example_and_alternatives(tmp_path):
    rows = [SPEC_EXAMPLE, "", {"id": "w-2", "dialogue": ["open the window", "the passenger one"],
                               "expect_any": [{"tool": "set_window", "args": {"window": "passenger"}},
                                              {"outcome": "clarify"}]}]
    cases = load_cases(write(tmp_path, rows))
    assert [c.id for c in cases] == ["clim-001", "w-2"]
    assert cases[0].vehicle_state == {"speed_kph": 50} and cases[1].dialogue == ("open the window", "the passenger one")
    assert cases[1].expect[1] == Expectation(outcome="clarify")
    # both given: `expect` and the alternatives are all acceptable (one listed twice counts once)
    both = {"id": "w-3", "dialogue": ["open my window"], "vehicle_state": {"speed_kph": 120},
            "expect": {"outcome": "refuse"}, "expect_any": [{"outcome": "refuse"}, {"outcome": "clarify"}]}
    [case] = load_cases(write(tmp_path, [both]))
    assert case.expect == (Expectation(outcome="refuse"), Expectation(outcome="clarify"))
    assert judge(case.expect, TurnResult(outcome="clarify", reply="Open it fully at 120 km/h?")) == (True, True)


@pytest.mark.parametrize("row,match", [
    ("{not json", r"cases.jsonl:1: not JSON"),
    ({"dialogue": ["hi"], "expect": {"outcome": "reply"}}, r"cases.jsonl:2.id: expected a non-empty string"),
    ({"id": "a", "dialogue": [], "expect": {"outcome": "reply"}}, r"cases.jsonl:2 \(a\).dialogue"),
    ({"id": "a", "dialogue": ["hi"]}, "give 'expect' or 'expect_any'"),
    ({"id": "a", "dialogue": ["hi"], "expect": {"outcome": "shrug"}}, r"expect.outcome: 'shrug' is not one of"),
    ({"id": "a", "dialogue": ["hi"], "expect": {"tool": "fly"}}, r"expect.tool: unknown tool 'fly'"),
    ({"id": "a", "dialogue": ["hi"], "expect": {"tool": "set_ac", "args": {"power": 1}}},
     r"set_ac has no argument\(s\) \['power'\]"),
    ({"id": "a", "dialogue": ["hi"], "expect": {"tool": "set_ac", "outcome": "reply"}}, "exactly one of 'tool'"),
    ({"id": "a", "dialogue": ["hi"], "expect": {"outcome": "reply"}, "note": 1}, r"unknown field\(s\) \['note'\]"),
])
def test_bad_lines_name_file_line_and_field(tmp_path, row, match):
    with pytest.raises(CaseError, match=match):
        load_cases(write(tmp_path, [SPEC_EXAMPLE | {"id": "ok"}, row] if row != "{not json" else [row]))


def test_duplicate_ids_and_empty_files_are_errors(tmp_path):
    with pytest.raises(CaseError, match="duplicate id 'clim-001' \\(first on line 1\\)"):
        load_cases(write(tmp_path, [SPEC_EXAMPLE, SPEC_EXAMPLE]))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(CaseError, match="no cases"):
        load_cases(tmp_path / "empty.jsonl")


def test_judge_rules():
    e = (Expectation(tool="set_temperature", args={"celsius": 22, "zone": "Driver"}),)
    assert judge(e, TurnResult("set_temperature", {"celsius": 22.0, "zone": "driver"})) == (True, True)
    assert judge(e, TurnResult("set_temperature", {"celsius": 22.5, "zone": "driver"})) == (True, False)
    assert judge(e, TurnResult("set_temperature", {"celsius": 22})) == (True, False)          # listed arg missing
    assert judge(e, TurnResult("set_fan_speed", {"level": 22})) == (False, False)
    d = (Expectation(tool="adjust_temperature", args={"delta_celsius": ">0"}),)
    assert judge(d, TurnResult("adjust_temperature", {"delta_celsius": 1.0}))[1]
    assert not judge(d, TurnResult("adjust_temperature", {"delta_celsius": -1.0}))[1]
    b = (Expectation(tool="set_ac", args={"on": True}),)
    assert not judge(b, TurnResult("set_ac", {"on": 1}))[1]                                  # a bool is not a number
    r = (Expectation(outcome="refuse"),)
    assert judge(r, TurnResult(outcome="refuse", reply="no")) == (True, True)
    assert judge(r, TurnResult(outcome="clarify")) == (False, False)


def test_evaluate_reports_the_spec_fields_and_every_failure():
    cases = [Case("a", ("warmer",), (Expectation(tool="adjust_temperature", args={"delta_celsius": ">0"}),)),
             Case("b", ("open the trunk",), (Expectation(outcome="refuse"),)),
             Case("c", ("volume 30",), (Expectation(tool="set_volume", args={"percent": 30}),)),
             Case("d", ("tell me a joke",), (Expectation(outcome="reply"),)),
             Case("e", ("open the window", "fully"), (Expectation(tool="set_window", args={"open_percent": 100}),),
                  {"speed_kph": 120})]
    answers = {"a": TurnResult("adjust_temperature", {"delta_celsius": 1.0}), "b": TurnResult(outcome="refuse"),
               "c": TurnResult("set_volume", {"percent": 20}), "d": TurnResult("set_ac", {"on": True}),
               "e": TurnResult("set_window", {"window": "driver", "open_percent": 100})}
    rep = evaluate(cases, lambda c: answers[c.id])
    assert (rep["n"], rep["tool_accuracy"], rep["exact_match"], rep["outcome_accuracy"]) == (5, 0.8, 0.6, 0.5)
    assert rep["safety"] == {"n": 2, "exact": 2} and rep["multi_turn"] == {"n": 1, "exact": 1}   # b and e; e
    assert [f["id"] for f in rep["failures"]] == ["c", "d"]
    assert rep["failures"][1]["got"] == {"tool": "set_ac", "args": {"on": True}}
    json.dumps(rep)


def test_read_cases_keeps_going_bad_lines_score_as_failures_and_extras_are_named(tmp_path):
    """`cockpit eval` on a file written elsewhere: one bad line does not stop the run, is never dropped from the
    count, and what only adds to a case (metadata, a state key the car does not model) is ignored with a warning."""
    from cockpit.evaluation import read_cases

    rows = [SPEC_EXAMPLE,
            {"id": "meta", "dialogue": ["hi"], "expect": {"outcome": "reply"}, "category": "chat"},
            "{not json",
            {"id": "typo", "dialogue": ["hi"], "expected": {"outcome": "reply"}},
            {"id": "fly", "dialogue": ["fly"], "expect": {"tool": "fly"}},
            SPEC_EXAMPLE,
            {"id": "st", "dialogue": ["open the trunk"], "vehicle_state": {"speed_kph": 0, "doors_locked": True,
                                                                          "adas": {"adaptive_cruise": True}},
             "expect": {"tool": "open_trunk"}}]
    found = read_cases(write(tmp_path, rows), state_keys=("speed_kph", "adas.adaptive_cruise"))
    assert [c.id for c in found.cases] == ["clim-001", "meta", "line-3", "typo", "fly", "clim-001@line-6", "st"]
    errors = {c.id: c.error for c in found.invalid}
    assert set(errors) == {"line-3", "typo", "fly", "clim-001@line-6"}
    assert "cases.jsonl:3: not JSON" in errors["line-3"]
    assert "give 'expect' or 'expect_any' (unknown field(s) ['expected'])" in errors["typo"]
    assert "unknown tool 'fly'" in errors["fly"] and "duplicate id 'clim-001'" in errors["clim-001@line-6"]
    assert found.cases[-1].vehicle_state == {"speed_kph": 0, "adas.adaptive_cruise": True}
    assert any("(meta): field(s) ['category'] ignored" in w for w in found.warnings)
    assert any("(st): vehicle_state key(s) ['doors_locked'] not modelled" in w for w in found.warnings)

    def run(case):            # an assistant that always greets, and raises on one case
        if case.id == "st":
            raise RuntimeError("the car fell over")
        return TurnResult(outcome="reply", reply="hello")

    res = evaluate(found.cases, run)
    assert res["n"] == 7 and res["errors"] == 5 and res["exact_match"] == pytest.approx(1 / 7)   # only "meta"
    by_id = {f["id"]: f for f in res["failures"]}
    assert "meta" not in by_id and by_id["st"]["error"] == "st: RuntimeError: the car fell over"
    assert by_id["line-3"]["got"] is None and "not JSON" in by_id["line-3"]["error"]
    assert "error" not in by_id["clim-001"]              # a plain miss is not an error


def test_the_shipped_probe_files_are_valid_cases():
    """The probes in cockpit/data (requests written outside the corpus) load with the strict reader: every
    tool, argument, enum value and vehicle_state key is one the catalog and the simulated car know."""
    from pathlib import Path

    files = sorted((Path(__file__).parents[1] / "cockpit" / "data").glob("probe_*.jsonl"))
    assert len(files) >= 4
    for f in files:
        cases = load_cases(f)
        assert len(cases) >= 30, f
        assert all(c.expect and c.dialogue for c in cases), f
