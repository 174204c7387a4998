"""Semantic endpointing: end an utterance sooner when the words heard so far make a finished request, later when
they plainly do not.

Why: the VAD alone must wait out a fixed silence (300 ms) after every last word, because people pause inside a
sentence ("set the temperature to ... twenty one"), and that wait is most of the end-of-speech -> CAN latency
(the models take ~30 ms). The recogniser's partial hypothesis during the silence says more: the domain language
model's probability that the sentence ends after the last two words, P(</s> | w[-2], w[-1]), is high after "open
the window" and near zero after "set the temperature to". So the endpointer ends at `early_ms` of silence when
that probability reaches `p_end` (and the speech is clean enough, `min_snr_db`), waits up to `late_ms` when it
is below `p_hold` (a pause mid-sentence), and otherwise ends at the VAD's own `end_silence_ms`. This is the
n-gram end-of-query detector of speech search systems, on the LM the recogniser already uses (`lm.py`), so no
extra model is trained or shipped.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

BOS, EOS = "<s>", "</s>"


class ArpaModel:
    """An ARPA back-off n-gram model (as `lm.build_arpa` writes it), read into dicts for scoring."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.logp: dict[tuple[str, ...], float] = {}
        self.backoff: dict[tuple[str, ...], float] = {}
        order = 0
        with open(self.path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line or line.startswith("\\data\\") or line.startswith("ngram "):
                    continue
                if line.startswith("\\end\\"):
                    break
                if line.startswith("\\") and line.endswith("-grams:"):
                    order = int(line[1:line.index("-")])
                    continue
                if order == 0:
                    raise ValueError(f"{self.path}:{lineno}: n-gram line before any \\N-grams: section")
                parts = line.split()
                if len(parts) not in (order + 1, order + 2):
                    raise ValueError(f"{self.path}:{lineno}: expected {order}-gram with a log probability, got "
                                     f"{line[:80]!r}")
                gram = tuple(parts[1:order + 1])
                self.logp[gram] = float(parts[0])
                if len(parts) == order + 2:
                    self.backoff[gram] = float(parts[-1])
        if not self.logp:
            raise ValueError(f"{self.path}: no n-grams (not an ARPA language model?)")
        self.order = max(len(g) for g in self.logp)
        unigrams = [v for g, v in self.logp.items() if len(g) == 1 and v > -99]     # not <s>'s -99
        self.floor = min(unigrams) if unigrams else -99.0

    def log10_prob(self, word: str, context: tuple[str, ...] = ()) -> float:
        """log10 P(word | context) with Katz back-off; an unknown word gets the lowest unigram probability."""
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        penalty = 0.0
        while True:
            gram = context + (word,)
            if gram in self.logp:
                return penalty + self.logp[gram]
            if not context:
                return penalty + self.floor
            penalty += self.backoff.get(context, 0.0)
            context = context[1:]

    def p_end(self, words: list[str] | tuple[str, ...]) -> float:
        """Probability that the sentence ends after `words` (the recogniser's words so far)."""
        return 10 ** self.log10_prob(EOS, (BOS,) + tuple(words))


@dataclass
class EndpointConfig:
    """When to close an utterance, by milliseconds of silence after the last voiced frame and the LM's
    end-of-sentence probability of the partial transcript (defaults measured in cockpit/DESIGN.md)."""
    early_ms: int = 210      # end this soon when the words read as finished
    p_end: float = 0.02      # ... i.e. P(</s> | last words) >= p_end
    late_ms: int = 450       # wait this long when they read as unfinished
    p_hold: float = 0.02     # ... i.e. P(</s> | last words) < p_hold (in between, and with no words yet: the
    #                          VAD's end_silence_ms)
    min_snr_db: float = 25.0  # end early only when the utterance's speech stands this far above the noise floor:
    #                          in cabin noise weak syllables fall below the VAD's gate and leave 210-300 ms gaps
    #                          inside sentences (10 dB: 72 of 300 test turns cut at a fixed 210 ms)

    def __post_init__(self) -> None:
        if not 0 < self.early_ms <= self.late_ms:
            raise ValueError(f"EndpointConfig: need 0 < early_ms <= late_ms, got early_ms={self.early_ms} "
                             f"late_ms={self.late_ms}")
        if not 0.0 <= self.p_hold <= self.p_end <= 1.0:
            raise ValueError(f"EndpointConfig: need 0 <= p_hold <= p_end <= 1, got p_hold={self.p_hold} "
                             f"p_end={self.p_end}")


@lru_cache(maxsize=4)
def load_lm(path: str) -> ArpaModel:
    """One parsed copy per LM file (0.2 s to read; a pipeline is made per turn in the evaluations)."""
    return ArpaModel(path)


class Endpointer:
    """Decides, at each silent frame inside an utterance, whether the utterance has ended."""

    def __init__(self, lm: ArpaModel | str | Path, cfg: EndpointConfig | None = None,
                 default_ms: int = 300) -> None:
        self.lm = lm if isinstance(lm, ArpaModel) else load_lm(str(Path(lm).resolve()))
        self.cfg = cfg or EndpointConfig()
        self.default_ms = default_ms
        if not self.cfg.early_ms <= default_ms <= self.cfg.late_ms:
            raise ValueError(f"Endpointer: the VAD's end_silence_ms={default_ms} must lie between early_ms="
                             f"{self.cfg.early_ms} and late_ms={self.cfg.late_ms}")

    @classmethod
    def for_asr(cls, asr, cfg: EndpointConfig | None = None, default_ms: int = 300) -> "Endpointer | None":
        """The endpointer over a recogniser's own LM, or None when the recogniser cannot give a partial
        hypothesis or has no n-gram LM (a Whisper model a user plugs in): then the VAD's fixed hangover ends
        utterances."""
        lm = getattr(asr, "lm_path", None)
        if lm is None or not callable(getattr(asr, "partial", None)) or not Path(lm).is_file():
            return None
        return cls(lm, cfg, default_ms)

    def wait_ms(self, partial: str, snr_db: float | None = None) -> int:
        """How much silence after the last word closes an utterance whose words so far are `partial`; `snr_db`:
        the utterance's speech SNR over the noise floor (`Vad.speech_snr_db`; None: unknown, taken as clean)."""
        words = partial.split()
        if not words:
            return self.default_ms
        p = self.lm.p_end(words)
        if p >= self.cfg.p_end:
            return self.cfg.early_ms if snr_db is None or snr_db >= self.cfg.min_snr_db else self.default_ms
        if p < self.cfg.p_hold:
            return self.cfg.late_ms
        return self.default_ms

    def ended(self, partial: str, silence_ms: float, snr_db: float | None = None) -> bool:
        return silence_ms >= self.wait_ms(partial, snr_db)
