"""The head unit's directory: the driver's contacts, places and media library. Free-text arguments are resolved
against it before the guard sees the call, the way Home Assistant Assist matches spoken names to entity names.

Why: the recogniser writes "dr edwards", "bbc radio two" and "radio head"; the head unit's phone, navigation and
media APIs need the entries "Dr. Edwards", "BBC Radio 2" and "Radiohead". And where the model copied only part of
a name the driver said ("lee" from "call ivan lee"), the entry the driver said completes it. A value that matches
no entry is passed on as the model wrote it (a new address, a song the library lacks).

Matching is on a key without case, punctuation, spaces or digits-as-digits (`asr_style`, then only letters), so it
is the same for typed and recognised text. The simulated car's directory holds the names, places and music of the
dialogue corpus (both splits: they are the car's data, not phrasings); a real car loads its own from YAML
(`Directory.load`: `contacts`, `places`, `media` lists).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (tool, argument) -> the directory list it is resolved against
RESOLVED_ARGS = {("call_contact", "name"): "contacts", ("navigate_to", "destination"): "places",
                 ("media_play", "query"): "media"}
KINDS = ("contacts", "places", "media")


def _words(text: str) -> list[str]:
    from .model.train import asr_style

    return [re.sub(r"[^a-z]", "", w) for w in asr_style(text).split() if re.sub(r"[^a-z]", "", w)]


def _contains(outer: list[str], inner: list[str]) -> bool:
    n = len(inner)
    return 0 < n <= len(outer) and any(outer[i:i + n] == inner for i in range(len(outer) - n + 1))


@dataclass(frozen=True)
class Directory:
    contacts: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    media: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # kind -> key (the words joined: "Dr. Edwards" == "dr edwards", "BBC Radio 2" == "bbc radio two",
        # "Radiohead" == "radio head") -> (entry, its words)
        index: dict[str, dict[str, tuple[str, list[str]]]] = {}
        for kind in KINDS:
            index[kind] = {}
            for entry in getattr(self, kind):
                words = _words(entry)
                if words:
                    index[kind].setdefault("".join(words), (entry, words))
        object.__setattr__(self, "_index", index)

    @classmethod
    @functools.lru_cache(maxsize=1)
    def simulated(cls) -> "Directory":
        """The simulated car's phone book, places and media library: the dialogue corpus's entities (built once)."""
        from . import corpus as c

        contacts = c.FIRST_NAMES + c.RELATIONS + tuple(f"{f} {s}" for f in c.FIRST_NAMES for s in c.SURNAMES) + \
            tuple(f"Dr. {s}" for s in c.SURNAMES)
        places = c.PLACES + c.CITIES + c.POIS + tuple(f"the nearest {p}" for p in c.POIS)
        media = c.ARTISTS + c.GENRES + tuple(f"{p} playlist" for p in c.PLAYLISTS) + \
            tuple(value for _, value in c.STATIONS)
        return cls(tuple(contacts), tuple(places), tuple(media))

    @classmethod
    def load(cls, path: str | Path) -> "Directory":
        import yaml

        path = Path(path)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping with {', '.join(KINDS)}")
        unknown = sorted(set(data) - set(KINDS))
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {unknown}; expected {list(KINDS)}")
        out = {}
        for kind in KINDS:
            items = data.get(kind) or []
            if not isinstance(items, list) or not all(isinstance(x, str) and x.strip() for x in items):
                raise ValueError(f"{path}: field {kind!r} must be a list of non-empty strings")
            out[kind] = tuple(items)
        return cls(**out)

    def resolve(self, tool: str | None, args: dict[str, Any], utterance: str) -> dict[str, Any]:
        """`args` with the free-text argument of `tool` replaced by the directory entry it names: the one longest
        entry the driver said that contains the value ("lee" in "call ivan lee"), else the entry equal to it without
        case, punctuation and spacing; a value that names no entry is returned as is."""
        found = next(((a, k) for (t, a), k in RESOLVED_ARGS.items() if t == tool and isinstance(args.get(a), str)),
                     None)
        if found is None:
            return args
        arg, kind = found
        value, index = args[arg], self._index[kind]          # type: ignore[attr-defined]
        said, part = _words(utterance), _words(value)
        found = [(e, w) for e, w in index.values() if len(w) > len(part) and _contains(w, part)
                 and _contains(said, w)]
        longest = max((len(w) for _, w in found), default=0)
        best = [e for e, w in found if len(w) == longest]
        exact = index.get("".join(part))
        entry = best[0] if len(best) == 1 else exact[0] if exact else None
        return args if entry is None or entry == value else {**args, arg: entry}
