"""Free-text arguments resolved against the head unit's directory (`cockpit.directory`): recogniser spellings,
names the model cut short, values that name no entry, and YAML directories with clear errors."""
from __future__ import annotations

import pytest

from cockpit.directory import Directory


@pytest.fixture(scope="module")
def sim() -> Directory:
    return Directory.simulated()


@pytest.mark.parametrize("tool, args, said, want", [
    ("call_contact", {"name": "dr edwards"}, "can you ring up dr edwards", "Dr. Edwards"),
    ("media_play", {"query": "bbc radio two", "source": "radio"}, "put on bbc radio two", "BBC Radio 2"),
    ("media_play", {"query": "radio head"}, "so i want radio head from streaming", "Radiohead"),
    ("call_contact", {"name": "lee"}, "can you ring up ivan lee", "Ivan Lee"),               # cut short
    ("call_contact", {"name": "Sam"}, "call sam smith please", "Sam Smith"),
    ("navigate_to", {"destination": "the nearest police"}, "find the nearest police station",
     "the nearest police station"),
    ("call_contact", {"name": "Sam"}, "call sam", "Sam"),                                     # already an entry
    ("navigate_to", {"destination": "114 Griafiabail Drive"}, "go to 114 Griafiabail Drive", "114 Griafiabail Drive"),
    ("media_play", {"query": "Star Wars soundtrack"}, "play the star wars soundtrack", "Star Wars soundtrack"),
    ("call_contact", {"name": "jackson"}, "i need to speak to white jackson", "jackson"),     # "Wei" not said
])
def test_values_resolve_to_the_entry_the_driver_named(sim, tool, args, said, want):
    out = sim.resolve(tool, args, said)
    assert out[next(k for k in args if isinstance(args[k], str) and k != "source")] == want
    assert {k: v for k, v in out.items() if k in ("source",)} == {k: v for k, v in args.items() if k == "source"}


def test_other_tools_and_ambiguous_names_are_left_alone():
    d = Directory(contacts=("Anna Smith", "Anna Jones"))
    assert d.resolve("call_contact", {"name": "Anna"}, "call anna smith or anna jones") == {"name": "Anna"}
    assert d.resolve("call_contact", {"name": "Anna"}, "call anna jones") == {"name": "Anna Jones"}
    args = {"zone": "driver", "celsius": 21}
    assert Directory.simulated().resolve("set_temperature", args, "twenty one please") is args


def test_directory_yaml_is_checked(tmp_path):
    p = tmp_path / "dir.yaml"
    p.write_text("contacts: [Dr. Who, Mum]\nmedia: [Radio 4]\n")
    d = Directory.load(p)
    assert d.resolve("call_contact", {"name": "dr who"}, "call dr who") == {"name": "Dr. Who"}
    assert d.resolve("media_play", {"query": "radio four"}, "radio four") == {"query": "Radio 4"}
    p.write_text("contacts: [Mum]\nphonebook: [Dad]\n")
    with pytest.raises(ValueError, match=r"dir.yaml: unknown field\(s\) \['phonebook'\]"):
        Directory.load(p)
    p.write_text("contacts: Mum\n")
    with pytest.raises(ValueError, match="dir.yaml: field 'contacts' must be a list of non-empty strings"):
        Directory.load(p)


def test_the_session_sends_the_resolved_name_and_keeps_the_model_proposal():
    from cockpit.evaluation import TurnResult
    from cockpit.runner import new_session

    class Says:
        def propose(self, dialogue, state, previous):
            return TurnResult(tool="call_contact", args={"name": "dr edwards"})

    car, session = new_session(Says())
    turn = session.handle("ring dr edwards", car.t)
    assert turn.proposal.args == {"name": "dr edwards"}
    assert turn.result.tool == "call_contact" and turn.result.args == {"name": "Dr. Edwards"}
    assert "Dr. Edwards" in turn.reply
