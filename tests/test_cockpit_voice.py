"""The voice pipeline with the real components: espeak-ng speech, webrtcvad endpointing, pocketsphinx with the
shipped domain language model, cabin noise at a measured SNR, and a WAV file through `cockpit listen` to the CAN
frame that changes the simulated cabin."""
from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from cockpit.voice.audio import AudioError, read_wav, write_wav
from cockpit.voice.noise import cabin_noise, mix_at_snr
from cockpit.voice.speech_eval import word_errors
from cockpit.voice.tts import synthesize
from cockpit.voice.vad import Vad, frames_of, segments

SIL = np.zeros(8000, dtype=np.int16)         # 0.5 s


@pytest.fixture(scope="module")
def asr():
    from cockpit.voice.asr import PocketSphinxASR

    return PocketSphinxASR()


def test_wav_reading_converts_rate_and_channels_and_names_bad_files(tmp_path):
    t = np.arange(44100) / 44100
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(44100)
        w.writeframes(np.stack([tone, tone], 1).tobytes())
    x = read_wav(tmp_path / "stereo.wav")
    assert x.dtype == np.int16 and abs(len(x) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(x.astype(np.float32)))
    assert abs(np.argmax(spectrum) * 16000 / len(x) - 440) < 2          # the tone survives resampling
    with wave.open(str(tmp_path / "u8.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(1), w.setframerate(16000)
        w.writeframes(bytes(100))
    with pytest.raises(AudioError, match="u8.wav: 8-bit samples; expected 16-bit PCM"):
        read_wav(tmp_path / "u8.wav")
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioError, match="text.wav: not a PCM WAV file"):
        read_wav(tmp_path / "text.wav")
    with pytest.raises(AudioError, match="no such file"):
        read_wav(tmp_path / "missing.wav")


def test_vad_finds_each_utterance_and_its_end_of_speech():
    a, b = synthesize("open the trunk"), synthesize("play some jazz")
    x = np.concatenate([SIL, a, SIL, SIL, b, SIL])
    segs = list(segments(frames_of(x)))
    assert len(segs) == 2
    loud = np.nonzero(np.abs(a) > 300)[0] / 16000                        # espeak pads its output with silence
    assert abs(segs[0].start_s + 0.15 - (0.5 + loud[0])) < 0.1               # start minus 150 ms of padding
    assert abs(segs[0].end_s - (0.5 + loud[-1])) < 0.1                       # end of speech
    assert segs[1].start_s > 1.5 + len(a) / 16000 - 0.3
    assert list(segments(frames_of(np.zeros(16000, np.int16)))) == []       # silence: nothing
    with pytest.raises(ValueError, match="aggressiveness must be 0..3"):
        Vad(type(Vad().cfg)(aggressiveness=5))


def test_vad_ends_utterances_in_cabin_noise_where_webrtcvad_alone_never_does():
    from cockpit.voice.vad import VadConfig

    pad = np.zeros(24000, np.int16)                                          # 1.5 s either side
    clean = np.concatenate([pad, synthesize("turn on the air conditioning"), pad])
    noisy = mix_at_snr(clean, 10, seed=3)
    alone = Vad(VadConfig(snr_db=None))
    assert not [e for e in map(alone.push, frames_of(noisy)) if e is not None and e.kind == "end"]
    assert alone.in_speech                                                  # still "speaking" at the end
    segs = list(segments(frames_of(noisy)))
    assert len(segs) == 1
    loud = np.nonzero(np.abs(clean) > 300)[0] / 16000
    assert abs(segs[0].start_s + 0.15 - loud[0]) < 0.15 and abs(segs[0].end_s - loud[-1]) < 0.25
    assert segs[0].closed_s < len(noisy) / 16000 - 1.0                       # closed well before the stream ended
    with pytest.raises(ValueError, match="noise_window_ms must be >= 300"):
        VadConfig(noise_window_ms=100)


def test_noise_floor_puts_steady_noise_near_0_db_and_speech_well_above_it():
    from cockpit.voice.vad import FRAME, NoiseFloor

    noise = (cabin_noise(16000 * 4, seed=5) * 1000).astype(np.int16)
    speech = synthesize("open the trunk and turn on the air conditioning")
    speech = np.pad(speech, (16000, 0))[:len(noise) - 16000]                 # 1 s of noise alone first
    mixed = np.clip(noise[:len(speech)].astype(np.int32) + speech, -32768, 32767).astype(np.int16)
    floor = NoiseFloor(window_frames=100)
    snrs = np.array([floor.snr_db(mixed[i:i + FRAME]) for i in range(0, len(mixed) - FRAME, FRAME)])
    loud = np.array([np.abs(speech[i:i + FRAME]).max() > 3000 for i in range(0, len(mixed) - FRAME, FRAME)])
    assert np.median(snrs[10:33]) < 4.5                                      # noise alone (after 0.3 s)
    assert np.median(snrs[loud]) > 15.0                                       # loud speech frames
    assert NoiseFloor(10).snr_db(np.zeros(FRAME, np.int16)) < 0              # digital silence is not speech


def test_noise_is_seeded_and_mixed_at_the_requested_snr():
    speech = np.concatenate([SIL, synthesize("turn on the air conditioning"), SIL])
    assert np.array_equal(mix_at_snr(speech, 10, seed=4), mix_at_snr(speech, 10, seed=4))
    assert not np.array_equal(cabin_noise(1000, 1), cabin_noise(1000, 2))
    noisy = mix_at_snr(speech, 10, seed=4).astype(np.float64)
    noise = noisy - speech
    active = np.abs(speech) > 327
    snr = 10 * np.log10(np.mean(speech[active].astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10) < 0.3


def test_recogniser_transcribes_in_car_commands_with_the_domain_lm(asr):
    for text in ("set the temperature to twenty one degrees", "heat my seat on high", "hey car"):
        heard = asr.transcribe(np.concatenate([SIL, synthesize(text), SIL])).text
        assert heard == text
    assert word_errors("open the trunk", "oh the trunk") == (1, 3)


def test_words_the_cmu_dictionary_lacks_get_pronunciations_and_are_recognised():
    from cockpit.voice.asr import LM_DIR, PocketSphinxASR
    from cockpit.voice.lm import g2p, ipa_to_arpabet, load_dictionary

    assert ipa_to_arpabet("wˈɪndskɹiːn") == "W IH N D S K R IY N".split()
    assert ipa_to_arpabet("tʃˈeɪndʒ") == "CH EY N JH".split()
    assert ipa_to_arpabet("wɪn☃") is None                       # a symbol the table lacks: no guess
    made = g2p(["aircon", "aeb"], spell={"aeb"})
    assert made == {"aircon": "EH R K AH N", "aeb": "EY IY B IY"}
    shipped = load_dictionary(LM_DIR / "cockpit.dict")
    assert {"windscreen", "aircon", "defroster", "demister", "aeb"} <= set(shipped)     # out of CMU, in the LM
    asr = PocketSphinxASR(profile="espeak-ng")
    for text in ("turn on the defroster", "switch AEB off", "clear the windscreen"):
        assert asr.transcribe(np.concatenate([SIL, synthesize(text), SIL])).text == text.lower()


def test_general_english_words_can_be_mixed_into_the_lm():
    import math

    from cockpit.voice.lm import background_unigrams, build_arpa

    bg = background_unigrams(500)
    assert len(bg) == 500 and abs(sum(bg.values()) - 1) < 1e-9 and "the" in bg
    sentences = [["open", "the", "trunk"], ["close", "the", "trunk"]]

    def unigrams(text: str) -> dict[str, float]:
        part = text.split("\\1-grams:")[1].split("\\2-grams:")[0]
        return {ln.split()[1]: 10 ** float(ln.split()[0]) for ln in part.strip().splitlines()}

    plain, mixed = unigrams(build_arpa(sentences)), unigrams(build_arpa(sentences, bg, 0.05))
    assert "people" not in plain and "people" in mixed                 # a word no sentence used
    assert math.isclose(sum(p for w, p in mixed.items() if w != "<s>"), 1.0, rel_tol=1e-3)
    assert mixed["trunk"] < plain["trunk"]                                # its mass comes from the corpus words


def test_streaming_recognition_gives_the_text_while_feeding_during_speech(asr):
    x = np.concatenate([SIL, synthesize("navigate to the nearest pharmacy"), SIL])
    vad, texts = Vad(), []
    for f in frames_of(x):
        ev = vad.push(f)
        if ev is None:
            continue
        if ev.kind == "start":
            asr.start()
        if ev.frames:
            asr.feed(np.concatenate(ev.frames))
        if ev.kind == "end":
            texts.append(asr.finish().text)
    assert texts == ["navigate to the nearest pharmacy"]


def test_a_wav_file_through_the_whole_pipeline_changes_the_cabin(tmp_path, capsys):
    from edgepilot.cli import main

    wav = write_wav(tmp_path / "cmd.wav", np.concatenate([SIL, synthesize("open the trunk"), SIL,
                                                          synthesize("hey car"), SIL,
                                                          synthesize("set the temperature to twenty one degrees"),
                                                          SIL]))
    assert main(["cockpit", "listen", str(wav), "--wake", "--json", "--reply-wav", str(tmp_path / "r.wav")]) == 0
    heard = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["heard"]
    assert [h["command"] for h in heard] == [None, None, "set the temperature to twenty one degrees"]
    turn = heard[-1]["turn"]
    assert turn["result"] == {"tool": "set_temperature", "args": {"celsius": 21, "zone": "all"}}
    assert [f["id"] for f in turn["frames"]] == ["0x300"]                      # HVAC_CMD on the bus
    assert read_wav(tmp_path / "r.wav").size > 8000                            # the reply was spoken
    assert all(0 < h["waited_ms"] <= 450 for h in heard)                      # semantic endpointing's bounds
    assert heard[-1]["waited_ms"] == pytest.approx(210, abs=1)                # a finished request ends early
    assert not heard[0]["prepared"]                          # an ignored utterance (no wake phrase): nothing proposed


def test_a_proposal_prepared_in_the_silence_is_the_one_computed_after_it():
    """The proposal computed for the partial hypothesis while the endpointer waits is used only when the final
    hypothesis reads the same, and the turn is the one a proposal computed after the end gives."""
    from cockpit.model.assistant import GenAIAssistant
    from cockpit.runner import new_session
    from cockpit.voice.asr import PocketSphinxASR
    from cockpit.voice.pipeline import VoicePipeline

    asr = PocketSphinxASR(profile="espeak-ng")     # the bundled model's partial reading of a first word can flip

    clip = np.concatenate([SIL, synthesize("switch on the reading light"), SIL, synthesize("make it warmer"), SIL])
    out = {}
    for prepare_ms in (60, None):
        car, session = new_session(GenAIAssistant())
        heard = list(VoicePipeline(asr, session, prepare_ms=prepare_ms).stream(frames_of(clip), clock=lambda: car.t))
        out[prepare_ms] = heard
        assert [h.prepared for h in heard] == [prepare_ms is not None] * 2
        assert session.prepared_hits == (2 if prepare_ms else 0)
    assert [h.turn.to_json()["result"] for h in out[60]] == [h.turn.to_json()["result"] for h in out[None]]
    car, session = new_session(GenAIAssistant())

    def broken(text, now):
        raise RuntimeError("state source down")
    session.prepare = broken                           # speculation failing must not lose the utterance
    heard = list(VoicePipeline(asr, session).stream(frames_of(clip), clock=lambda: car.t))
    assert [h.turn.to_json()["result"] for h in heard] == [h.turn.to_json()["result"] for h in out[None]]
    assert not any(h.prepared for h in heard)
    assert [len(h.turn.frames) for h in out[60]] == [1, 1]
    assert all(h.prepare_ms > 0 for h in out[60]) and all(h.prepare_ms == 0 for h in out[None])


def test_speech_file_of_a_training_config_is_relative_to_the_cockpit_package(tmp_path):
    from cockpit.voice.speech_data import config_path, load

    shipped = config_path("data/heard_finetune.jsonl")
    assert shipped.is_file() and shipped.parent.parent.name == "cockpit"
    rows = load(shipped)
    assert rows and all(r["dialogue"] == r["heard"] and r["_answers"] for r in rows[:50])
    assert config_path(tmp_path / "x.jsonl") == tmp_path / "x.jsonl"


def test_speech_eval_runs_each_case_through_the_voice_pipeline_and_shows_what_was_heard(tmp_path, capsys):
    """`cockpit eval FILE --speech --json`: each turn is spoken by espeak-ng and recognised; the score is the
    spec's, and a failure carries the recogniser's text for each of its turns."""
    from edgepilot.cli import main

    rows = [{"id": "temp", "dialogue": ["set the temperature to twenty one degrees"],
             "expect": {"tool": "set_temperature", "args": {"celsius": 21}}},
            {"id": "trunk-moving", "dialogue": ["open the trunk"], "vehicle_state": {"speed_kph": 50},
             "expect": {"outcome": "refuse"}},
            {"id": "wrong-on-purpose", "dialogue": ["heat my seat on high"],
             "expect": {"tool": "set_ac", "args": {"on": True}}}]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["cockpit", "eval", str(path), "--speech", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 3 and result["exact_match"] == pytest.approx(2 / 3)
    assert result["speech"]["voice"] and 0 <= result["speech"]["word_error_rate"] < 0.5
    [failure] = result["failures"]
    assert failure["id"] == "wrong-on-purpose" and failure["heard"] == ["heat my seat on high"]
    assert failure["got"]["tool"] == "set_seat_heating"
