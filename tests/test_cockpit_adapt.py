"""Speaker profiles (`cockpit.voice.adapt`): the bundled acoustic model's weights read correctly, the shipped
espeak-ng profile recognises synthetic speech better than the bundled model, profiles are checked on load, and a
small adaptation runs end to end with the real sphinxtrain tools."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cockpit.voice.adapt import (DEFAULT_PROFILE, PROFILES_DIR, Utterance, adapt, base_model_dir, read_sendump,
                                 recorded_utterances, resolve_profile, synthetic_utterances, write_s3_3d)
from cockpit.voice.asr import PocketSphinxASR
from cockpit.voice.audio import write_wav
from cockpit.voice.noise import mix_at_snr
from cockpit.voice.speech_eval import word_errors
from cockpit.voice.tts import spoken_clip

# Sentences of no corpus split, so neither the LM nor the profile saw them as written.
SENTENCES = ("could you set the temperature to twenty two degrees", "open the passenger window half way",
             "turn the fan down to two", "call my sister please", "switch lane keeping off",
             "how much fuel is left", "make the seat heating warmer on the driver side", "play some jazz")


def _tools_present() -> bool:
    from cockpit.voice.adapt import _TOOL_PACKAGES, _tool

    try:
        for name in _TOOL_PACKAGES:
            _tool(name)
    except RuntimeError:
        return False
    return True


def test_sendump_weights_decode_like_the_bundled_model(tmp_path):
    """The converted mixture weights (what sphinxtrain needs) give the recogniser the same answers and scores as the
    quantised originals it ships with; scrambled weights do not (so the file is really what is read)."""
    from pocketsphinx import Decoder

    from cockpit.voice.asr import LM_DIR

    w = read_sendump(base_model_dir() / "sendump")
    assert w.shape == (5126, 3, 128)
    assert np.allclose(w.sum(-1), 1.0) and (w > 0).all()
    rng = np.random.default_rng(0)
    scrambled = np.take_along_axis(w, rng.permuted(np.tile(np.arange(128), w.shape[:2] + (1,)), axis=-1), -1)
    decoders = {}
    for name, weights in (("converted", w), ("scrambled", scrambled)):
        model = tmp_path / name
        shutil.copytree(base_model_dir(), model)
        (model / "sendump").unlink()
        write_s3_3d(model / "mixture_weights", weights)
        decoders[name] = Decoder(hmm=str(model), lm=str(LM_DIR / "cockpit.lm"), dict=str(LM_DIR / "cockpit.dict"),
                                 loglevel="FATAL", fwdflat=False)
    decoders["bundled"] = PocketSphinxASR().decoder
    for text in SENTENCES[:2]:
        clip = spoken_clip(text)
        hyps = {}
        for name, d in decoders.items():
            d.start_utt()
            d.process_raw(clip.tobytes(), full_utt=True)
            d.end_utt()
            hyps[name] = (d.hyp().hypstr, round(d.hyp().score, 6))
        assert hyps["converted"] == hyps["bundled"]
        assert hyps["scrambled"] != hyps["bundled"]


def test_the_shipped_espeak_profile_makes_fewer_word_errors_than_the_bundled_model():
    bundled, adapted = PocketSphinxASR(), PocketSphinxASR(profile=DEFAULT_PROFILE)
    assert adapted.profile == PROFILES_DIR / DEFAULT_PROFILE and bundled.profile is None
    errors = {"bundled": 0, "adapted": 0}
    for i, text in enumerate(SENTENCES):
        clip = spoken_clip(text)
        for snr in (None, 10.0):
            x = clip if snr is None else mix_at_snr(clip, snr, seed=100 + i)
            errors["bundled"] += word_errors(text, bundled.transcribe(x).text)[0]
            errors["adapted"] += word_errors(text, adapted.transcribe(x).text)[0]
    assert errors["adapted"] < errors["bundled"], errors


def test_profiles_are_checked_when_loaded(tmp_path):
    assert resolve_profile(None) is None and resolve_profile("none") is None and resolve_profile("") is None
    with pytest.raises(FileNotFoundError, match=r"speaker profile 'nobody': not a folder and not a shipped profile "
                                                r"\['espeak-ng'\]"):
        resolve_profile("nobody")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "means").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="broken: no variances"):
        PocketSphinxASR(profile=broken)
    other = tmp_path / "other"
    shutil.copytree(PROFILES_DIR / DEFAULT_PROFILE, other)
    meta = json.loads((other / "profile.json").read_text())
    meta["base_means_sha256"] = "0" * 16
    (other / "profile.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="adapted from another acoustic model"):
        resolve_profile(other)


def test_enrolment_recordings_are_read_with_clear_errors(tmp_path):
    write_wav(tmp_path / "a.wav", spoken_clip("open the trunk"))
    listing = tmp_path / "enrol.tsv"
    listing.write_text("# driver enrolment\na.wav\tOpen the trunk, 2 times\n")
    [u] = recorded_utterances(listing)
    assert u.text == "open the trunk two times" and u.samples.dtype == np.int16 and len(u.samples) > 8000
    listing.write_text("a.wav open the trunk\n")
    with pytest.raises(ValueError, match=r"enrol.tsv:1: expected `WAV<TAB>transcript`"):
        recorded_utterances(listing)
    listing.write_text("a.wav\tok\nb.wav\tplay jazz\n")
    with pytest.raises(FileNotFoundError, match=r"enrol.tsv:2: no such WAV file .*b.wav"):
        recorded_utterances(listing)


def test_synthetic_enrolment_uses_train_turns_with_seeded_noise():
    a, b = synthetic_utterances(6, seed=3), synthetic_utterances(6, seed=3)
    assert [u.text for u in a] == [u.text for u in b]
    assert all(np.array_equal(x.samples, y.samples) for x, y in zip(a, b))
    assert all(u.text == u.text.lower() and u.text.replace("'", "").replace(" ", "").isalpha() for u in a)
    clean = synthetic_utterances(6, seed=3, snr_db=None)
    noisy = sum(not np.array_equal(x.samples, y.samples) for x, y in zip(a, clean))
    assert 0 < noisy < len(a)                          # some, not all, in cabin noise


@pytest.mark.skipif(not _tools_present(),
                    reason="sphinxtrain / sphinxbase-utils / pocketsphinx (Debian) not installed: "
                           "`apt-get install sphinxtrain sphinxbase-utils pocketsphinx`")
def test_a_small_adaptation_runs_end_to_end_and_loads(tmp_path):
    utts = synthetic_utterances(14, seed=5)
    utts.append(Utterance("oov", "zzyzx qwrtp", spoken_clip("zzyzx qwrtp")))      # not pronounceable: skipped
    summary = adapt(utts, tmp_path / "p", meta={"source": "test"})
    assert summary["utterances"] == len(utts) - 1 - sum(
        not all(w in _dict_words() for w in u.text.split()) for u in utts[:-1])
    assert summary["skipped_oov"] >= 1 and summary["source"] == "test"
    for name in ("means", "variances"):
        assert (tmp_path / "p" / name).stat().st_size == (base_model_dir() / name).stat().st_size
    assert (tmp_path / "p" / "means").read_bytes() != (base_model_dir() / "means").read_bytes()
    asr = PocketSphinxASR(profile=tmp_path / "p")
    assert word_errors("open the trunk", asr.transcribe(spoken_clip("open the trunk")).text)[0] <= 1
    with pytest.raises(ValueError, match="at least 10 usable utterances, got 0"):
        adapt(utts[-1:], tmp_path / "q")


def _dict_words() -> set[str]:
    from cockpit.voice.asr import LM_DIR
    from cockpit.voice.lm import load_dictionary

    return set(load_dictionary(LM_DIR / "cockpit.dict"))
