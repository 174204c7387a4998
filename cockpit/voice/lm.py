"""The speech recogniser's domain language model: a trigram ARPA model and a pronunciation dictionary built from
the dialogue corpus's train split.

Why a domain LM: pocketsphinx's general English model turns "set the temperature to twenty one degrees" into "the
twenty one degrees"; a model of what drivers say to the car narrows the search to in-car sentences. Built from the
train split only, so the test split's phrasings are as new to the recogniser as to the assistant. Words the CMU
dictionary lacks ("windscreen", "aircon", "defroster", "AEB", names) get a pronunciation from espeak-ng's
letter-to-sound rules, mapped from IPA to the acoustic model's phones (`g2p`); before, they were left out and
could never be recognised. Words still without one are left out, with a count in the summary.
Smoothing: absolute discounting (D = 0.5) with back-off weights, written in the ARPA format pocketsphinx reads.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

from ..corpus import generate
from ..model.train import asr_style

BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.5
WAKE_PHRASE = "hey car"


def cmudict_path() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"


def load_dictionary(path: str | Path | None = None) -> dict[str, list[str]]:
    """word -> pronunciation lines ("word PH ON ES", variants "word(2) ...")."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in Path(path or cmudict_path()).read_text(encoding="utf-8").splitlines():
        if line.strip():
            head = line.split(" ", 1)[0]
            out[head.split("(")[0]].append(line)
    return out


def train_turns(n_cases: int = 30000, seed: int = 0) -> list[str]:
    """Every user turn of `n_cases` train-split cases, as written."""
    return [t for row in generate("train", n_cases, seed=seed, novel_share=0.0) for t in row["dialogue"]]


def acronyms(turns: list[str]) -> set[str]:
    """Words the turns write in capitals ("AEB", "BSM"): a driver spells them."""
    import re

    return {w.lower() for t in turns for w in re.findall(r"\b[A-Z]{2,5}\b", t)}


def corpus_sentences(turns: list[str]) -> list[list[str]]:
    """The turns as a recogniser would write them, split into words, plus the wake phrase on its own and every name,
    place and artist the corpus knows: in a car these come from the driver's phone book, saved places and media
    library, which an infotainment recogniser is given as vocabulary."""
    from .. import corpus as c

    out = [asr_style(t).split() for t in turns]
    names = c.FIRST_NAMES + c.SURNAMES + c.RELATIONS + c.CITIES + c.PLACES + c.POIS + c.ARTISTS + c.GENRES
    wake = [WAKE_PHRASE.split()] * max(1, len(out) // 100)     # the wake phrase alone: ~1 % of utterances
    return out + wake + [asr_style(n).split() for n in names]


#: espeak-ng IPA -> the acoustic model's ARPAbet phones; longest symbols first when parsing
IPA_TO_ARPABET = {
    "tʃ": "CH", "dʒ": "JH", "eɪ": "EY", "aɪ": "AY", "aʊ": "AW", "ɔɪ": "OY", "oʊ": "OW", "əʊ": "OW", "iə": "IY AH",
    "ɛɹ": "EH R", "ɑːɹ": "AA R", "ɔːɹ": "AO R", "ʊɹ": "UH R", "ɪɹ": "IH R", "aɪɚ": "AY ER", "aʊɚ": "AW ER",
    "i": "IY", "ɪ": "IH", "ᵻ": "IH", "e": "EH", "ɛ": "EH", "æ": "AE", "a": "AA", "ɑ": "AA", "ɒ": "AA", "ɔ": "AO",
    "o": "OW", "ʊ": "UH", "u": "UW", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ɚ": "ER", "ɝ": "ER", "ɜ": "ER",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "ɡ": "G", "f": "F", "v": "V", "θ": "TH", "ð": "DH",
    "s": "S", "z": "Z", "ʃ": "SH", "ʒ": "ZH", "h": "HH", "m": "M", "n": "N", "ŋ": "NG", "l": "L", "ɫ": "L",
    "ɹ": "R", "r": "R", "w": "W", "j": "Y", "ɾ": "T", "x": "K", "ç": "HH",
}
#: letter names, for acronyms spoken letter by letter
LETTERS = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    "EY", "B IY", "S IY", "D IY", "IY", "EH F", "JH IY", "EY CH", "AY", "JH EY", "K EY", "EH L", "EH M", "EH N", "OW",
    "P IY", "K Y UW", "AA R", "EH S", "T IY", "Y UW", "V IY", "D AH B AH L Y UW", "EH K S", "W AY", "Z IY")))
_IPA_KEYS = sorted(IPA_TO_ARPABET, key=len, reverse=True)
_IPA_IGNORED = set("ˈˌː‖|.-_ \u0329\u0325\u0303\u02de\u02b0\u0361ʔ")


def ipa_to_arpabet(ipa: str) -> list[str] | None:
    """ARPAbet phones of an espeak-ng IPA string, or None if it holds a symbol the table lacks."""
    out, i = [], 0
    while i < len(ipa):
        if ipa[i] in _IPA_IGNORED:
            i += 1
            continue
        key = next((k for k in _IPA_KEYS if ipa.startswith(k, i)), None)
        if key is None:
            return None
        out += IPA_TO_ARPABET[key].split()
        i += len(key)
    return out or None


def g2p(words: list[str], spell: set[str] = frozenset()) -> dict[str, str]:
    """Pronunciations ("PH ON ES") from espeak-ng's en-US letter-to-sound rules; words in `spell` (acronyms such as
    "aeb") are spoken letter by letter. Words espeak-ng cannot be mapped for are left out."""
    import subprocess

    from .tts import _espeak

    out = {}
    for w in words:
        if w in spell and w.isalpha():
            out[w] = " ".join(LETTERS[c] for c in w)
            continue
        proc = subprocess.run([_espeak(), "-q", "--ipa", "-v", "en-us", w], capture_output=True, text=True)
        phones = ipa_to_arpabet(proc.stdout.strip()) if proc.returncode == 0 else None
        if phones:
            out[w] = " ".join(phones)
    return out


def background_unigrams(top: int = 20000) -> dict[str, float]:
    """The `top` most likely words of the general English LM in the pocketsphinx wheel (`en-us.lm.bin`) that the CMU
    dictionary can pronounce, with their unigram probabilities renormalised over them."""
    import os

    import pocketsphinx

    general = pocketsphinx.NGramModel.readfile(os.path.join(pocketsphinx.get_model_path(), "en-us", "en-us.lm.bin"))
    scores = {}
    for w in load_dictionary():
        if w.isascii() and w.replace("'", "").isalpha():
            s = general.prob([w])
            if s > -536870912:                              # the model's "unknown word" score
                scores[w] = s * math.log(1.0001)            # pocketsphinx scores are log base 1.0001
    best = sorted(scores, key=scores.get, reverse=True)[:top]
    total = sum(math.exp(scores[w]) for w in best)
    return {w: math.exp(scores[w]) / total for w in best}


def build_arpa(sentences: list[list[str]], background: dict[str, float] | None = None,
               background_weight: float = 0.0) -> str:
    """Trigram ARPA text with absolute discounting and back-off weights. `background` (word -> probability) is mixed
    into the unigrams with `background_weight`, so words the corpus never uses stay recognisable (at a cost the
    back-off charges), as drivers say things no template wrote."""
    counts: list[Counter] = [Counter(), Counter(), Counter()]
    for words in sentences:
        seq = [BOS] + words + [EOS]
        for n in range(3):
            for i in range(len(seq) - n):
                gram = tuple(seq[i:i + n + 1])
                if n == 0 and gram == (BOS,):
                    continue
                counts[n][gram] += 1
    background = background or {}
    lam = background_weight if background else 0.0
    vocab = sorted({w for (w,) in counts[0]} | {BOS} | set(background))
    total = sum(counts[0].values())
    prob: list[dict[tuple[str, ...], float]] = [{}, {}, {}]
    # unigrams: discounted, the left-over mass spread uniformly (no zero probabilities), mixed with the background
    left = DISCOUNT * len(counts[0]) / total
    for w in vocab:
        c = counts[0].get((w,), 0)
        domain = max(c - DISCOUNT, 0) / total + left / len(vocab)
        prob[0][(w,)] = (1 - lam) * domain + lam * background.get(w, 0.0)
    ctx_count: list[Counter] = [Counter(), Counter()]
    ctx_types: list[Counter] = [Counter(), Counter()]
    for n in (1, 2):
        for gram, c in counts[n].items():
            ctx_count[n - 1][gram[:-1]] += c
            ctx_types[n - 1][gram[:-1]] += 1
        for gram, c in counts[n].items():
            prob[n][gram] = (c - DISCOUNT) / ctx_count[n - 1][gram[:-1]]

    def lower(gram: tuple[str, ...]) -> float:          # interpolated lower-order probability of gram[-1]
        if len(gram) == 1:
            return prob[0][gram]
        if gram in prob[len(gram) - 1]:
            return prob[len(gram) - 1][gram]
        return backoff(gram[:-1]) * lower(gram[1:])

    bo: dict[tuple[str, ...], float] = {}

    def backoff(ctx: tuple[str, ...]) -> float:
        if ctx in bo:
            return bo[ctx]
        n = len(ctx)
        if n > 2 or ctx not in ctx_count[n - 1]:
            return 1.0
        seen = [g for g in _children[n - 1].get(ctx, ())]
        mass = DISCOUNT * ctx_types[n - 1][ctx] / ctx_count[n - 1][ctx]
        denom = 1.0 - sum(lower(g[1:]) for g in seen)
        bo[ctx] = mass / max(denom, 1e-9)
        return bo[ctx]

    _children: list[dict[tuple[str, ...], list[tuple[str, ...]]]] = [defaultdict(list), defaultdict(list)]
    for n in (1, 2):
        for gram in counts[n]:
            _children[n - 1][gram[:-1]].append(gram)
    lines = ["\\data\\", f"ngram 1={len(vocab)}", f"ngram 2={len(counts[1])}", f"ngram 3={len(counts[2])}", "",
             "\\1-grams:"]
    for w in vocab:
        p = -99.0 if w == BOS else math.log10(prob[0][(w,)])
        lines.append(f"{p:.5f} {w} {math.log10(backoff((w,))):.5f}" if w != EOS else f"{p:.5f} {w}")
    lines += ["", "\\2-grams:"]
    for gram in sorted(counts[1]):
        b = f" {math.log10(backoff(gram)):.5f}" if gram[-1] != EOS else ""
        lines.append(f"{math.log10(prob[1][gram]):.5f} {' '.join(gram)}{b}")
    lines += ["", "\\3-grams:"]
    for gram in sorted(counts[2]):
        lines.append(f"{math.log10(prob[2][gram]):.5f} {' '.join(gram)}")
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def build(out_dir: str | Path, n_cases: int = 30000, seed: int = 0, background_words: int = 0,
          background_weight: float = 0.0) -> dict[str, int]:
    """Write OUT/cockpit.lm (ARPA) and OUT/cockpit.dict (the pronunciations of its words); with `background_words`,
    that many general English words are mixed in (`build_arpa`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmu = load_dictionary()
    turns = train_turns(n_cases, seed)
    raw = corpus_sentences(turns)
    missing = sorted({w for words in raw for w in words if w not in cmu})
    spell = acronyms(turns)
    made = g2p(missing, spell)
    for w, phones in made.items():
        cmu[w] = [f"{w} {phones}"]
    sentences, dropped = [], Counter()
    for words in raw:
        kept = [w for w in words if w in cmu]
        dropped.update(w for w in words if w not in cmu)
        if kept:
            sentences.append(kept)
    background = background_unigrams(background_words) if background_words else None
    (out / "cockpit.lm").write_text(build_arpa(sentences, background, background_weight), encoding="utf-8")
    vocab = sorted({w for s in sentences for w in s} | set(background or ()))
    (out / "cockpit.dict").write_text("\n".join(line for w in vocab for line in cmu[w]) + "\n", encoding="utf-8")
    return {"sentences": len(sentences), "words": len(vocab), "background_words": len(background or ()),
            "background_weight": background_weight if background else 0.0, "g2p_words": len(made),
            "dropped_oov_words": len(dropped),
            "dropped_oov_tokens": sum(dropped.values())}
