"""Semantic endpointing: the ARPA reader's back-off arithmetic on a hand-written model, the wait policy, and the
streaming voice pipeline with the real recogniser ending a finished request sooner than the VAD's fixed hangover
and holding on through a pause after an unfinished one."""
from __future__ import annotations

import math

import numpy as np
import pytest

from cockpit.voice.endpoint import ArpaModel, EndpointConfig, Endpointer
from cockpit.voice.vad import Vad, frames_of

ARPA = """\\data\\
ngram 1=5
ngram 2=4
ngram 3=2

\\1-grams:
-1.0 </s>
-99 <s> -0.5
-0.7 open -0.3
-0.9 window -0.2
-1.2 to -0.1

\\2-grams:
-0.2 <s> open -0.4
-0.3 open window -0.6
-0.1 window </s>
-0.5 open to

\\3-grams:
-0.05 <s> open window
-0.02 open window </s>

\\end\\
"""


@pytest.fixture()
def lm(tmp_path):
    p = tmp_path / "t.lm"
    p.write_text(ARPA)
    return ArpaModel(p)


def test_arpa_scores_follow_katz_back_off(lm):
    assert lm.order == 3
    assert lm.log10_prob("window", ("<s>", "open")) == -0.05                  # a stored trigram
    assert lm.log10_prob("</s>", ("open", "window")) == -0.02
    # trigram (<s>, open, to) missing: back-off weight of (<s>, open) + bigram (open, to)
    assert math.isclose(lm.log10_prob("to", ("<s>", "open")), -0.4 + -0.5)
    # bigram (to, </s>) missing too: back-off of (open, to) is absent (0) -> back-off of (to) + unigram
    assert math.isclose(lm.log10_prob("</s>", ("open", "to")), 0.0 + -0.1 + -1.0)
    assert lm.log10_prob("banana") == -1.2                                    # unknown: the lowest unigram
    assert math.isclose(lm.p_end(["open", "window"]), 10 ** -0.02)            # <s> open window </s> -> trigram
    assert math.isclose(lm.p_end(["open"]), 10 ** (-0.4 + -0.3 + -1.0))       # (<s> open </s>): back-off twice


def test_a_malformed_language_model_is_named_with_its_line(tmp_path):
    bad = tmp_path / "bad.lm"
    bad.write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\n")
    with pytest.raises(ValueError, match=r"bad.lm:5: expected 1-gram"):
        ArpaModel(bad)
    early = tmp_path / "early.lm"
    early.write_text("-1.0 open\n")
    with pytest.raises(ValueError, match=r"early.lm:1: n-gram line before"):
        ArpaModel(early)
    empty = tmp_path / "empty.lm"
    empty.write_text("\\data\\\n\\end\\\n")
    with pytest.raises(ValueError, match="no n-grams"):
        ArpaModel(empty)


def test_wait_policy_ends_finished_words_early_and_holds_unfinished_ones(lm):
    cfg = EndpointConfig(early_ms=210, p_end=0.9, late_ms=450, p_hold=0.1)
    ep = Endpointer(lm, cfg, default_ms=300)
    assert lm.p_end(["open", "window"]) >= 0.9                                # 10^-0.02
    assert ep.wait_ms("open window") == 210
    assert lm.p_end(["open", "to"]) < 0.1                                     # 10^-1.1
    assert ep.wait_ms("open to") == 450
    assert 0.1 <= lm.p_end(["window"]) < 0.9                                  # 10^-0.1: the VAD's own hangover
    assert ep.wait_ms("window") == 300
    assert ep.wait_ms("") == 300                                              # nothing recognised yet
    assert not ep.ended("open window", 180) and ep.ended("open window", 210)
    # in noise (speech under min_snr_db above the floor) a finished request waits the VAD's own hangover
    assert ep.wait_ms("open window", snr_db=18.0) == 300 and ep.wait_ms("open window", snr_db=40.0) == 210
    assert ep.wait_ms("open to", snr_db=18.0) == 450
    assert not ep.ended("open to", 420) and ep.ended("open to", 450)


def test_bad_endpoint_settings_are_refused(lm):
    with pytest.raises(ValueError, match="early_ms <= late_ms"):
        EndpointConfig(early_ms=500, late_ms=300)
    with pytest.raises(ValueError, match="p_hold <= p_end"):
        EndpointConfig(p_end=0.01, p_hold=0.1)
    with pytest.raises(ValueError, match="end_silence_ms=600 must lie between"):
        Endpointer(lm, EndpointConfig(), default_ms=600)


def test_a_recogniser_without_partial_hypotheses_keeps_the_fixed_hangover(tmp_path):
    class Whisperish:
        def transcribe(self, samples):
            raise AssertionError

    assert Endpointer.for_asr(Whisperish()) is None


def test_vad_end_now_closes_the_open_utterance_and_records_when():
    from cockpit.voice.tts import synthesize

    vad = Vad()
    with pytest.raises(RuntimeError, match="no utterance is open"):
        vad.end_now()
    x = np.concatenate([np.zeros(4800, np.int16), synthesize("open the trunk"), np.zeros(16000, np.int16)])
    for f in frames_of(x):
        vad.push(f)
        if vad.silence_ms >= 120:
            ev = vad.end_now()
            break
    assert ev.kind == "end" and not vad.in_speech and vad.silence_ms == 0
    assert math.isclose(ev.segment.closed_s - ev.segment.end_s, 0.12, abs_tol=1e-9)


def test_vad_reports_how_far_the_utterance_stands_above_the_noise():
    from cockpit.voice.noise import mix_at_snr
    from cockpit.voice.tts import spoken_clip

    def snr_at_first_silence(clip):
        vad = Vad()
        for f in frames_of(clip):
            vad.push(f)
            if vad.in_speech and vad.silence_ms:
                return vad.speech_snr_db

    clip = spoken_clip("turn on the heated seats", pad_s=0.6)
    clean, noisy = snr_at_first_silence(clip), snr_at_first_silence(mix_at_snr(clip, 10, seed=2))
    assert clean > 40 and 10 < noisy < 25
    assert Vad().speech_snr_db is None


def _speech(text: str) -> np.ndarray:
    from cockpit.voice.tts import synthesize, trim_silence

    return trim_silence(synthesize(text))          # espeak-ng's own edge silence off: the pauses below are exact


class _Listener:
    def handle(self, text, now):
        return None


@pytest.fixture(scope="module")
def asr():
    from cockpit.voice.asr import PocketSphinxASR

    return PocketSphinxASR(profile="espeak-ng")


def _heard(asr, clip, endpoint):
    from cockpit.voice.pipeline import VoicePipeline

    return list(VoicePipeline(asr, _Listener(), endpoint=endpoint).stream(frames_of(clip)))


def test_a_finished_request_ends_before_the_fixed_hangover(asr):
    from cockpit.voice.tts import spoken_clip

    clip = spoken_clip("turn on the heated seats", pad_s=0.6)
    from cockpit.voice.speech_eval import word_errors

    fast, fixed = _heard(asr, clip, EndpointConfig()), _heard(asr, clip, None)
    assert len(fast) == len(fixed) == 1
    # recognition itself is not under test (a plural "s" flips with the recogniser's running normalisation)
    assert word_errors("turn on the heated seats", fast[0].text)[0] <= 1
    assert fast[0].waited_ms == pytest.approx(EndpointConfig().early_ms, abs=1)
    assert fixed[0].waited_ms == pytest.approx(300, abs=1)
    assert fast[0].end_s == fixed[0].end_s                                    # the same last word


def test_a_pause_after_an_unfinished_request_is_waited_out(asr):
    sil = np.zeros(9600, np.int16)
    pause = np.zeros(16 * 360, np.int16)                                      # 360 ms: longer than the hangover
    clip = np.concatenate([sil, _speech("set the temperature to"), pause, _speech("twenty one degrees"), sil])
    fixed = _heard(asr, clip, None)
    assert len(fixed) == 2                                                    # the fixed hangover cuts the request
    fast = _heard(asr, clip, EndpointConfig())
    assert len(fast) == 1 and fast[0].text.endswith("twenty one degrees")
    assert fast[0].text.startswith("set the temperature")
