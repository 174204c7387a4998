"""Speaker profiles: the recogniser's acoustic model adapted to one voice, the way an in-car recogniser enrols its
driver. MAP re-estimation of the bundled en-US model's Gaussian means and variances from the speaker's utterances
and what they said (sphinxtrain's `bw` collects the statistics, `map_adapt` re-estimates); a profile is those two
files (1.7 MB), loaded over the bundled model with `PocketSphinxASR(profile=...)`.

Why: the bundled model is trained on human speech; on the simulator's driver (espeak-ng) it misrecognised one word in
five. Adapted on 2 630 train-split utterances (half with cabin noise at 10 dB), the word error rate on utterances of
train phrasings held out of both the LM and the adaptation fell from 0.180 to 0.058 clean and from 0.267 to 0.091 at
10 dB (cockpit/DESIGN.md). A driver enrols the same way from recordings (`edgepilot cockpit adapt --recordings`).

Needs the Debian packages `sphinxtrain` (bw, map_adapt), `sphinxbase-utils` (sphinx_fe) and `pocketsphinx`
(pocketsphinx_mdef_convert) to build a profile; using one needs only the pocketsphinx wheel.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import tempfile
import time
import wave
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "espeak-ng"          # the simulator's driver: the voice `eval --speech` and the sim speak with
PROFILE_FILES = ("means", "variances")
_TOOL_PACKAGES = {"bw": "sphinxtrain", "map_adapt": "sphinxtrain", "sphinx_fe": "sphinxbase-utils",
                  "pocketsphinx_mdef_convert": "pocketsphinx"}


def base_model_dir() -> Path:
    """The pocketsphinx wheel's en-US acoustic model."""
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def resolve_profile(spec: str | Path | None) -> Path | None:
    """None, "" or "none" -> no profile; a name shipped in `profiles/` or a folder -> that folder (checked)."""
    if spec is None or str(spec) in ("", "none"):
        return None
    path = PROFILES_DIR / str(spec) if (PROFILES_DIR / str(spec)).is_dir() else Path(spec)
    if not path.is_dir():
        shipped = sorted(p.name for p in PROFILES_DIR.iterdir() if p.is_dir()) if PROFILES_DIR.is_dir() else []
        raise FileNotFoundError(f"speaker profile {str(spec)!r}: not a folder and not a shipped profile {shipped}")
    for name in PROFILE_FILES + ("profile.json",):
        if not (path / name).is_file():
            raise FileNotFoundError(f"speaker profile {path}: no {name} (build one with `edgepilot cockpit adapt`)")
    meta = json.loads((path / "profile.json").read_text(encoding="utf-8"))
    base = base_model_dir() / "means"
    if meta.get("base_means_sha256") != _digest(base):
        raise ValueError(f"speaker profile {path}: adapted from another acoustic model than {base.parent} "
                         f"(means digest {meta.get('base_means_sha256')} != {_digest(base)}); rebuild it")
    return path


# --- the bundled model in the form sphinxtrain reads -------------------------------------------------------------

def read_sendump(path: Path) -> np.ndarray:
    """Mixture weights from pocketsphinx's quantised `sendump` (bytes of -log1.0001(w) >> shift, stored per feature
    stream and density over all senones) -> float array [senone, stream, density], each row summing to 1."""
    data = Path(path).read_bytes()
    pos = 0

    def u32() -> int:
        nonlocal pos
        (v,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return v

    def text() -> str | None:
        nonlocal pos
        n = u32()
        if n == 0:
            return None
        s = data[pos:pos + n - 1].decode("ascii", errors="replace")
        pos += n
        return s

    text()                                           # title
    header: dict[str, str] = {}
    while (line := text()) is not None:
        key, *val = line.split()
        if val:
            header[key] = val[0]
    if int(header.get("cluster_count", 0)) != 0:
        raise ValueError(f"{path}: clustered sendump (cluster_count {header['cluster_count']}) is not supported")
    shift, streams = int(header.get("mixw_shift", 10)), int(header["feature_count"])
    densities, senones = u32(), u32()
    size = streams * densities * senones
    if len(data) - pos != size:
        raise ValueError(f"{path}: {len(data) - pos} bytes of weights, expected {streams}x{densities}x{senones}")
    raw = np.frombuffer(data, np.uint8, size, pos).reshape(streams, densities, senones).astype(np.int64)
    w = np.power(1.0001, -(raw << shift).astype(np.float64)).transpose(2, 0, 1)
    return w / w.sum(-1, keepdims=True)


def write_s3_3d(path: Path, array: np.ndarray) -> None:
    """A Sphinx-3 binary parameter file (header, byte-order mark, dimensions, float32 data)."""
    head = b"s3\nversion 1.0\n"
    pad = (len(head) + len(b"endhdr\n")) & 3
    head += (b" " * (4 - pad) if pad else b"") + b"endhdr\n"
    d1, d2, d3 = array.shape
    with open(path, "wb") as fh:
        fh.write(head + struct.pack("=i", 0x11223344) + struct.pack("=IIII", d1, d2, d3, d1 * d2 * d3))
        fh.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def _tool(name: str) -> str:
    for path in (shutil.which(name), f"/usr/lib/sphinxtrain/{name}"):
        if path and Path(path).is_file():
            return path
    raise RuntimeError(f"speaker adaptation needs `{name}` (Debian/Ubuntu package `{_TOOL_PACKAGES[name]}`: "
                       f"`apt-get install sphinxtrain sphinxbase-utils pocketsphinx`)")


def _run(cmd: list[str], log: Path) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    log.write_text(out, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}); last lines of {log}:\n"
                           + "\n".join(out.strip().splitlines()[-8:]))
    return out


def _feat_args(model: Path) -> dict[str, str]:
    args = {}
    for line in (model / "feat.params").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            args[parts[0].lstrip("-")] = parts[1]
    return args


# --- adaptation ---------------------------------------------------------------------------------------------------

@dataclass
class Utterance:
    id: str
    text: str               # what was said, as the recogniser writes it (lower case words)
    samples: np.ndarray     # 16 kHz mono int16


def adapt(utterances: Iterable[Utterance], out: str | Path, dictionary: str | Path | None = None,
          meta: dict | None = None, keep_work: str | Path | None = None) -> dict:
    """MAP-adapt the bundled model to `utterances`; writes OUT/{means,variances,profile.json}. Utterances with a
    word the dictionary lacks are skipped (counted): the aligner cannot place a word it cannot pronounce."""
    from .asr import LM_DIR
    from .lm import load_dictionary

    out = Path(out)
    dictionary = Path(dictionary or LM_DIR / "cockpit.dict")
    words = set(load_dictionary(dictionary))
    t0 = time.perf_counter()
    base = base_model_dir()
    tools = {n: _tool(n) for n in _TOOL_PACKAGES}
    work = Path(keep_work) if keep_work else Path(tempfile.mkdtemp(prefix="edgepilot-adapt-"))
    try:
        am, wav, mfc, acc, new = (work / d for d in ("am", "wav", "mfc", "acc", "map"))
        for d in (am, wav, mfc, acc, new):
            d.mkdir(parents=True, exist_ok=True)
        for f in base.iterdir():
            shutil.copy(f, am / f.name)
        write_s3_3d(am / "mixture_weights", read_sendump(base / "sendump"))
        _run([tools["pocketsphinx_mdef_convert"], "-text", str(base / "mdef"), str(am / "mdef.txt")],
             work / "mdef.log")
        ids, trans, skipped, seconds = [], [], 0, 0.0
        for u in utterances:
            if not u.text.split() or any(w not in words for w in u.text.split()):
                skipped += 1
                continue
            fid = f"u{len(ids):05d}"
            with wave.open(str(wav / f"{fid}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes(np.asarray(u.samples, dtype=np.int16).tobytes())
            seconds += len(u.samples) / 16000
            ids.append(fid)
            trans.append(f"<s> {u.text} </s> ({fid})")
        if len(ids) < 10:
            raise ValueError(f"speaker adaptation needs at least 10 usable utterances, got {len(ids)} "
                             f"({skipped} skipped for words outside {dictionary})")
        (work / "ids").write_text("\n".join(ids) + "\n")
        (work / "trans").write_text("\n".join(trans) + "\n")
        feat = _feat_args(base)
        _run([tools["sphinx_fe"], "-argfile", str(base / "feat.params"), "-samprate", "16000", "-c", str(work / "ids"),
              "-di", str(wav), "-do", str(mfc), "-ei", "wav", "-eo", "mfc", "-mswav", "yes"], work / "fe.log")
        bw = _run([tools["bw"], "-hmmdir", str(am), "-moddeffn", str(am / "mdef.txt"), "-ts2cbfn", ".ptm.",
                   "-feat", feat["feat"], "-svspec", feat["svspec"], "-cmn", feat.get("cmn", "batch"),
                   "-agc", feat.get("agc", "none"), "-dictfn", str(dictionary), "-fdictfn", str(am / "noisedict"),
                   "-ctlfn", str(work / "ids"), "-lsnfn", str(work / "trans"), "-accumdir", str(acc),
                   "-cepdir", str(mfc)], work / "bw.log")
        failed = bw.count("failed to align") + bw.count("Final state not reached")
        _run([tools["map_adapt"], "-moddeffn", str(am / "mdef.txt"), "-ts2cbfn", ".ptm.",
              "-meanfn", str(am / "means"), "-varfn", str(am / "variances"),
              "-mixwfn", str(am / "mixture_weights"), "-tmatfn", str(am / "transition_matrices"),
              "-accumdir", str(acc), "-mapmeanfn", str(new / "means"), "-mapvarfn", str(new / "variances"),
              "-mapmixwfn", str(new / "mixture_weights"), "-maptmatfn", str(new / "transition_matrices")],
             work / "map.log")
        out.mkdir(parents=True, exist_ok=True)
        for name in PROFILE_FILES:
            shutil.copy(new / name, out / name)
        summary = {"utterances": len(ids), "skipped_oov": skipped, "not_aligned": failed,
                   "audio_minutes": round(seconds / 60, 1), "seconds": round(time.perf_counter() - t0, 1),
                   "base_means_sha256": _digest(base / "means"), **(meta or {})}
        (out / "profile.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        return summary
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)


def synthetic_utterances(n_cases: int, seed: int = 21, voice: str | None = None, snr_db: float | None = 10.0,
                         noisy_share: float = 0.5) -> list[Utterance]:
    """The train split's user turns spoken by espeak-ng (the test split's phrasings are never used); a seeded
    `noisy_share` of them mixed with cabin noise at `snr_db`, so the profile holds up in a moving car."""
    from ..corpus import generate
    from ..model.train import asr_style
    from .noise import mix_at_snr
    from .tts import DEFAULT_VOICE, spoken_clip

    out = []
    for row in generate("train", n_cases, seed=seed, novel_share=0.0):
        for j, text in enumerate(row["dialogue"]):
            uid = f"{row['id']}_{j}"
            clip = spoken_clip(text, voice or DEFAULT_VOICE)
            h = zlib.crc32(uid.encode())
            if snr_db is not None and (h % 1000) < noisy_share * 1000:
                clip = mix_at_snr(clip, snr_db, seed=h)
            out.append(Utterance(uid, asr_style(text), clip))
    return out


def recorded_utterances(listing: str | Path) -> list[Utterance]:
    """A driver's enrolment recordings: a text file of `WAV<TAB>what was said` lines (paths relative to it)."""
    from ..model.train import asr_style
    from .audio import read_wav

    listing = Path(listing)
    out = []
    for n, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            raise ValueError(f"{listing}:{n}: expected `WAV<TAB>transcript`, got {line[:60]!r}")
        path, text = line.split("\t", 1)
        wav = (listing.parent / path.strip()) if not Path(path.strip()).is_absolute() else Path(path.strip())
        if not wav.is_file():
            raise FileNotFoundError(f"{listing}:{n}: no such WAV file {wav}")
        out.append(Utterance(f"r{n:05d}", asr_style(text), read_wav(wav)))
    return out
