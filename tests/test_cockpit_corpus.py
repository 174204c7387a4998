"""The dialogue corpus: deterministic, train/test phrasings disjoint, every case valid in the spec's format with
expectations the catalog accepts, and every kind of turn represented."""
from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

from cockpit.catalog import ToolCallError, validate_call
from cockpit.corpus import (EXTRA_PHRASINGS, FOLLOW_UPS, INTENTS, OUT_OF_RANGE, OUTCOME_TURNS, STATEFUL, STATIONS,
                            expectation, free_split, generate, number_words, phrasings, write_jsonl)
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
    for group in (STATEFUL, OUTCOME_TURNS, OUT_OF_RANGE, FOLLOW_UPS):
        for entry in group:
            assert entry[1] and entry[2], entry[0]


def _words(pattern: str) -> str:
    return " ".join(re.sub(r"[^\w{} ]", " ", pattern.lower()).split())


def test_no_train_phrasing_contains_test_wording():
    """Case and punctuation do not make a test phrasing new, and a train phrasing that embeds a whole test
    phrasing ("do the same for the passenger" around "same for the passenger") would teach it too."""
    test = {_words(p) for p in phrasings("test")}
    longer = [t for t in test if len(t.split()) >= 2]
    for p in phrasings("train"):
        w = f" {_words(p)} "
        assert w.strip() not in test, p
        assert not [t for t in longer if f" {t} " in w], p


def test_extra_phrasings_file_stays_clear_of_test_wording():
    """The data file's phrasings are merged into the train patterns of the entries they name (follow-ups
    included), and none of them is inside a test phrasing either."""
    extra = yaml.safe_load(EXTRA_PHRASINGS.read_text(encoding="utf-8"))
    train = phrasings("train")
    assert sum(len(v) for v in extra.values()) > 2000
    assert set(extra["undo"]) <= {p for e in FOLLOW_UPS if e[0] == "undo" for p in e[1]}
    longer = [_words(t) for t in phrasings("test") if len(t.split()) >= 2]
    for name, patterns in extra.items():
        for p in patterns:
            assert p in train, (name, p)
            assert not [t for t in longer if f" {_words(p)} " in f" {t} "], (name, p)


def _free_values(rows, key):
    return [r["_answers"][-1]["args"][key] for r in rows if r["_answers"][-1].get("args", {}).get(key)]


def test_made_up_values_train_copying_and_never_reach_the_test_split():
    train, test = generate("train", 3000, seed=5), generate("test", 3000, seed=5)
    known = {q for _, q in STATIONS}
    for rows, split in ((train, "train"), (test, "test")):
        for key in ("name", "destination"):
            values = _free_values(rows, key)
            assert values and all(free_split(v) == split for v in values), (split, key)
    radio = {split: {r["_answers"][-1]["args"]["query"] for r in rows
                     if r["_answers"][-1].get("args", {}).get("source") == "radio"}
             for rows, split in ((train, "train"), (test, "test"))}
    assert radio["test"] and radio["test"] <= known       # the test split asks for real stations only
    assert len(radio["train"] - known) >= 5               # the train split also for made-up ones, to copy
    names = _free_values(train, "name")
    assert len(set(names)) > 0.6 * len(names)             # mostly one-off names: nothing to memorise


def test_every_case_is_valid_and_every_kind_appears(tmp_path):
    rows = generate("test", 1500, seed=0)
    path = write_jsonl(rows, tmp_path / "test.jsonl")
    cases = load_cases(path)                                          # the spec format, ids unique
    assert len(cases) == 1500
    kinds = Counter(r["_intent"] for r in rows)
    names = {it.name for it in INTENTS} | {g[0] for group in (STATEFUL, OUTCOME_TURNS, OUT_OF_RANGE, FOLLOW_UPS)
                                           for g in group} | {"switch"}
    assert set(kinds) == names                                        # 1500 cases cover every intent
    assert sum(len(c.dialogue) > 1 for c in cases) >= 100
    assert {e.outcome for c in cases for e in c.expect} >= {"refuse", "clarify", "reply"}
    out_of_range = {o[0] for o in OUT_OF_RANGE}
    for r in rows:
        assert len(r["_answers"]) == len(r["dialogue"])
        for answer in r["_answers"]:                                  # the training answers speak the catalog
            if "tool" not in answer:
                assert answer["outcome"] in ("refuse", "reply") and answer["reply"]
            elif r["_intent"] in out_of_range:
                with pytest.raises(ToolCallError):                    # the catalog check, not the model, refuses
                    validate_call(answer["tool"], answer["args"])
            else:
                validate_call(answer["tool"], answer["args"])
        if "tool" in r["expect"]:                                     # the expectation follows from the answer
            e, a = r["expect"], r["_answers"][-1]
            assert e["tool"] == a["tool"] and set(e["args"]) <= set(a["args"])
            assert all(v == a["args"][k] or (v == ">0") == (a["args"][k] > 0) for k, v in e["args"].items())
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


def test_expectation_checks_vague_arguments_by_sign_and_drops_free_ones():
    answer = {"tool": "adjust_temperature", "args": {"delta_celsius": -1, "zone": "rear"}}
    assert expectation(answer, vague=("delta_celsius",)) == {"tool": "adjust_temperature",
                                                              "args": {"delta_celsius": "<0", "zone": "rear"}}
    assert expectation({"tool": "media_play", "args": {"query": "jazz"}}, free=("query",)) == {
        "tool": "media_play", "args": {}}
    assert expectation({"outcome": "refuse", "reply": "no"}) == {"outcome": "refuse"}


def test_train_titles_are_made_of_command_words_too_and_player_commands_stay_commands():
    """Made-up titles ("Stop Cold Window") follow "play" in the train split, so the model learns that the words
    after "play" are a title whatever they say; "play the next song" stays a player command."""
    from cockpit.corpus import _TITLE_WORDS

    cases = generate("train", 4000, seed=0)
    plays = [c["expect"]["args"]["query"] for c in cases if c["expect"].get("tool") == "media_play"
             and "query" in c["expect"]["args"]]
    command_words = set(_TITLE_WORDS) - {"the", "of", "to", "for", "in", "on", "with", "me", "you", "my", "your"}
    assert sum(any(w in command_words for w in q.lower().split()) for q in plays) >= 20
    assert not {"next", "previous", "again", "pause", "resume"} & set(_TITLE_WORDS)
    # the player's own words after "play" ("play the last song", "press play") stay player commands
    player = [c for c in generate("train", 12000, seed=0) if re.search(
        r"\bplay the (?:next|previous|last|earlier) (?:song|track|one)\b|\bpress play\b", c["dialogue"][-1].lower())]
    assert len(player) >= 5 and all(c["expect"].get("tool") == "media_control" for c in player)
