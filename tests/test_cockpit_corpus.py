"""The dialogue corpus: deterministic, train/test phrasings disjoint, every case valid in the spec's format with
expectations the catalog accepts, and every kind of turn represented."""
from __future__ import annotations

from collections import Counter

import pytest

from cockpit.catalog import validate_call
from cockpit.corpus import INTENTS, OUTCOME_TURNS, STATEFUL, FOLLOW_UPS, generate, number_words, phrasings, write_jsonl
from cockpit.evaluation import load_cases


def test_number_words():
    assert [number_words(n) for n in (0, 7, 16, 21, 40, 99, 100, 120, 150)] == [
        "zero", "seven", "sixteen", "twenty-one", "forty", "ninety-nine", "one hundred", "one hundred and twenty",
        "one hundred and fifty"]
    with pytest.raises(ValueError, match="outside 0..999"):
        number_words(1000)


def test_generation_is_deterministic_per_seed_and_split():
    assert generate("test", 50, seed=1) == generate("test", 50, seed=1)
    assert generate("test", 50, seed=1) != generate("test", 50, seed=2)
    assert generate("train", 50) != generate("test", 50)
    with pytest.raises(ValueError, match="split 'dev'"):
        generate("dev", 5)


def test_train_and_test_phrasings_are_disjoint_and_every_intent_has_both():
    assert not phrasings("train") & phrasings("test")
    for it in INTENTS:
        assert it.train and it.test, it.name
    for group in (STATEFUL, OUTCOME_TURNS, FOLLOW_UPS):
        for entry in group:
            assert entry[1] and entry[2], entry[0]


def test_every_case_is_valid_and_every_kind_appears(tmp_path):
    rows = generate("test", 600, seed=0)
    path = write_jsonl(rows, tmp_path / "test.jsonl")
    cases = load_cases(path)                                          # the spec format, ids unique
    assert len(cases) == 600
    kinds = Counter(r["_intent"] for r in rows)
    names = {it.name for it in INTENTS} | {s[0] for s in STATEFUL} | {o[0] for o in OUTCOME_TURNS} | {
        f[0] for f in FOLLOW_UPS}
    assert set(kinds) == names                                        # 600 cases cover every intent
    assert sum(len(c.dialogue) > 1 for c in cases) >= 20
    assert {e.outcome for c in cases for e in c.expect} >= {"refuse", "clarify", "reply"}
    for r in rows:
        e = r["expect"]
        if "tool" in e:
            args = {k: (1 if v == ">0" else -1 if v == "<0" else v) for k, v in e["args"].items()}
            if e["tool"] == "media_play":
                args = {"query": "something", **args}   # the query text is free; only the tool is expected
            validate_call(e["tool"], args)
    lines = path.read_text().splitlines()
    assert all("_intent" not in line for line in lines)


def test_cli_writes_checks_and_reports_bad_files(tmp_path, capsys):
    import json

    from edgepilot.cli import main

    out = tmp_path / "train.jsonl"
    assert main(["cockpit", "corpus", "--split", "train", "--n", "40", "--seed", "3", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 40
    assert main(["cockpit", "check", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["n"] == 40 and sum(summary["expected"].values()) == 40
    assert main(["cockpit", "tools"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 20
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "dialogue": ["hi"], "expect": {"tool": "fly"}}\n')
    assert main(["cockpit", "check", str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl:1 (x).expect.tool: unknown tool 'fly'" in capsys.readouterr().err
