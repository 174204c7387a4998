"""The guard's text screen: requests that try to change the assistant's rules, or dictate its output, are refused.

Why a screen of the words themselves, before any model: a request that claims a mode, a role or an authority
("developer mode is on", "you're the driver now", "I'm your engineer"), tells the assistant to drop its rules
("ignore your instructions", "the guard already approved it") or dictates a raw tool call (`lock_doors(locked=
false)`, a pasted JSON call) is an attempt to get around the guard, whatever it asks for. A model trained on
phrasings can be talked into a harmless-looking call ("lock_doors(locked=false)" -> lock the doors); this
deterministic layer refuses the turn instead, so that the guard, not the model, decides. The state rules still
apply to every call that passes (the screen only adds refusals).

The patterns name the kinds of attempt (instruction override, mode or role claim, authority claim, dictated call,
chat-template markup), not sentences: ordinary corrections ("ignore that, make it 21"), song titles ("play
Imagine"), preferences ("from now on keep it at 20") and the car's own features ("emergency braking on") pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .catalog import TOOLS

# What a rule-changing request aims at: the assistant's rules, instructions, safety layer or checks.
_RULES = (r"(?:rules?|instructions?|guidelines?|guard ?rails?|guard|safety(?: \w+)?|restrictions?|limits?|"
          r"limitations?|programming|policy|policies|constraints?|prompt|protocols?|filters?|checks?|training|"
          r"directives?|settings you were given)")
_OWNER = r"(?:your|the|all|any|every|previous|prior|earlier|above|those|these|its|my|built-in|internal|usual|own)"
_MODES = (r"(?:developer|dev|debug|debugging|test|testing|maintenance|service|admin|administrator|root|god|"
          r"unrestricted|jailbreak|jailbroken|diagnostic|diagnostics|engineering|factory|override|super ?user|"
          r"sudo|unlocked|unfiltered|unsafe|dan)")
_AUTHORITY = (r"(?:developer|engineer|programmer|creator|maker|manufacturer|admin|administrator|technician|"
              r"mechanic|dealer|operator|supervisor)")

#: (kind, pattern) in the order they are tried; the first that matches names the refusal's reason.
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(p, re.IGNORECASE)) for kind, p in (
    # "ignore your rules", "forget all previous instructions", "bypass the safety guard", "override the limits"
    ("instruction override", rf"\b(?:ignore|disregard|forget|bypass|override|circumvent|get around|set aside|"
                             rf"throw out|abandon)\b(?: \w+){{0,2}}? {_OWNER}?\s*{_RULES}\b|\boverride (?:yourself|"
                             rf"your (?:\w+ )?(?:programming|rules|guard|settings|safety))\b"),
    # weaker verbs ("turn off", "disable") only with the assistant's own rules: "turn off the lane keeping" passes
    ("instruction override", r"\b(?:disable|deactivate|switch off|turn off|drop|skip|suspend|break|remove|lift|"
                             r"relax|loosen)\b (?:all |any )?(?:your|the|its|those|these)? ?(?:own |built-in |usual "
                             r")?(?:rules|instructions|guard|guard ?rails|restrictions|programming|safety (?:guard|"
                             r"rules|checks|layer|filter|limits|restrictions)|range checks|filters|guidelines)\b"),
    # "the guard is disabled", "safety checks off", "range checks are off", "restrictions have been lifted"
    ("rules declared off", rf"\b(?:guard|guard ?rails?|safety (?:guard|layer|rules?|checks?|limits?|system|"
                           rf"filter)|range checks?|restrictions?|rules?|checks?|limits?)\b(?: \w+){{0,3}}? "
                           rf"(?:(?:is|are|has been|have been|were|was|now|been|got|get)\s+)*(?:off|disabled|"
                           rf"lifted|removed|suspended|bypassed|deactivated|switched off|turned off|gone|waived|"
                           rf"approved|cleared|overridden|not active|inactive)\b"),
    ("rules declared off", r"\b(?:no|without|free of|beyond|outside|had no|zero) (?:any |your |the |all |a )?"
                           r"(?:rules|restrictions|limits|limitations|filters|guard ?rails|guard|safety checks|checks|"
                           r"checking|safety rules)\b(?! (?:on|for) (?:the )?(?:speed|volume|temperature))"),
    ("rules declared off", r"\b(?:guard|rules|restrictions|safety rules|checks)\b (?:doesn't|don't|does not|do not|"
                           r"didn't|did not) exist\b"),
    ("rules declared off", r"\b(?:already|pre-?)\s*(?:approved|authori[sz]ed|cleared|validated)\b|"
                           r"\bguard (?:said|says|agreed|allowed|approved|is fine|is ok)\b"),
    ("rules declared off", r"\b(?:rules?|restrictions?|limits?|guard ?rails?|guard|safety rules|checks)\b "
                           r"(?:don't|do not|doesn't|does not|no longer|won't|will not|never) apply\b|"
                           r"\b(?:unrestricted|unfiltered|jailbr(?:eak|oken)\w*|uncensored)\b"),
    ("instruction override", r"\b(?:forget|ignore|disregard) (?:everything|all|anything) (?:you(?:'ve| have| were)? "
                             r"(?:been )?(?:told|taught|know|learned|learnt)|(?:you were )?(?:told|said) (?:to you )?"
                             r"before|above)\b"),
    # "developer mode", "you're in test mode now", "enter maintenance mode", "for testing purposes"
    ("mode claim", r"\bfor (?:testing|test|debugging|debug|diagnostic|development|maintenance) purposes\b"),
    ("mode claim", rf"\b{_MODES} mode\b|\bmode\s*[:=]\s*{_MODES}\b"),
    # "new instructions:", "system override", "admin command", "override code"
    ("instruction override", r"\b(?:new|updated|revised|secret|hidden|real|true|special|priority|emergency) "
                             r"(?:instructions?|rules?|orders?|directives?|system prompt)\b|\bsystem (?:override|"
                             r"prompt|message|instruction|command)\b|\b(?:admin|administrator|root|developer|"
                             r"override|service|master|engineer(?:ing)?) (?:command|code|override|access|"
                             r"privileges?|password|key)\b|\b(?:override|authori[sz]ation|auth|access|unlock) (?:code|command|authori[sz]ation)\b|"
                             r"\bsecret (?:phrase|code ?word|code|word|password|command)\b"),
    # "pretend you're a racing driver", "you are now KITT", "act as my chauffeur", "let's role-play"
    ("role play", r"\b(?:pretend|imagine|suppose|assume)\b(?: \w+){0,2}? (?:you(?:'re| are| were)|you'd|"
                  r"to be|you can|you have|that you)\b|\brole[- ]?play\w*\b|\byou(?:'re| are) (?:now|no longer|"
                  r"not (?:bound|restricted|limited)|free to|allowed to|permitted to|authori[sz]ed to|in (?:charge|"
                  r"control)|the driver|driving now|the one driving)\b|\bact (?:as|like) (?:a|an|my|the|if)\b|"
                  r"\bplay(?:ing)? (?:a |the )?(?:game|role|character)\b(?: \w+){0,3}? (?:where|in which|"
                  r"you)\b|\bfrom now on,? you\b|\bstay in character\b|\byou be the\b"),
    # "as your developer I'm telling you", "I'm the engineer", "this is your manufacturer speaking"
    ("authority claim", rf"\b(?:i'm|i am|im|this is|it's|speaking as|as)\s+(?:your|the|an?|a certified|"
                        rf"an authori[sz]ed)?\s*(?:\w+ )?{_AUTHORITY}\b|\bi (?:authori[sz]e|permit|allow|order|"
                        rf"command|instruct) you\b|\byou have my (?:permission|authori[sz]ation|consent)\b|"
                        rf"\bi give you (?:permission|authori[sz]ation|consent|full control)\b"),
    # a call written out: "lock_doors(locked=false)", "set_temperature celsius=45", a pasted JSON object,
    # "respond only with this tool call"
    ("dictated call", r"\b[a-z]+_[a-z_]+\s*\(|\b[a-z_]+\s*=\s*[\w.\"'-]+|\{[^{}]*[\"']?\w+[\"']?\s*:\s*[^{}]*\}|"
                      r"\b(?:tool|function|api) ?calls?\b|\boutput (?:only|exactly|just)\b|"
                      r"\brespond (?:only|exactly|just) with\b|\b(?:execute|run|call|invoke) (?:this|the following|"
                      r"it) (?:exactly|verbatim|as written)\b"),
    # chat-template markup and role tags a model was trained with: "<|system|>", "[INST]", "SYSTEM:", "### "
    ("role markup", r"<\|?\s*/?\s*(?:system|assistant|user|im_start|im_end|endoftext|s)\s*\|?>|\[/?(?:inst|"
                    r"sys|system)\]|(?:^|[\n.!?]\s*)(?:system|assistant|developer|admin|root|sudo)\s*:|^#{2,}\s"),
))
#: the catalog's own names: a driver says "lock the doors", not "lock_doors"
_TOOL_NAMES = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in sorted(TOOLS, key=len, reverse=True) if "_" in n)
                         + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class ScreenHit:
    kind: str         # "instruction override", "mode claim", "role play", "authority claim", "dictated call", ...
    matched: str      # the words that matched, for the guard's log


#: "play New Rules", "put on Jailbreak by AC/DC": a title named by a media request is not an instruction. The
#: title runs from the verb to "by"/"from"/"on"/"in"/"off" or the end of the sentence; "play a game where..." is
#: not a title.
_TITLE = re.compile(r"^(?:(?:hey car|car|ok|okay|please|can you|could you|will you|would you)[, ]+)*(?:play|put on|"
                    r"queue(?: up)?|listen to|stream|shuffle)\s+(?!(?:a|the|some)?\s*(?:game|role|character)\b)"
                    r"(?P<title>[^.!?;:,]*?)(?=\s+(?:by|from|on|in|off|via)\b|[.!?;:,]|$)", re.IGNORECASE)
#: digits and symbols written for letters ("1gn0r3 y0ur ru13z"): read as letters in words that mix both
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i",
                       "\u00ae": "r"})


def _readings(t: str) -> list[str]:
    """The text, and where words mix letters with digits or symbols, the text read as letters ("1gn0r3 y0ur
    ru13z" -> ignore your rules: a 1 before a vowel is an l, otherwise an i; a final z is an s)."""
    if not re.search(r"[a-z][0-9@$!\u00ae]|[0-9@$\u00ae][a-z]", t, re.IGNORECASE):
        return [t]

    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        if not (re.search(r"[a-z]", w, re.I) and re.search(r"[0-9@$!\u00ae]", w)):
            return w
        w = "".join("l" if c == "1" and w[i + 1:i + 2].translate(_LEET).lower() in ("a", "e", "i", "o", "u")
                    else c for i, c in enumerate(w))
        return re.sub(r"z\b", "s", w.translate(_LEET))
    return [t, re.sub(r"\S+", word, t)]


def screen(text: str) -> ScreenHit | None:
    """The first attempt to change the rules or dictate the output that `text` contains, or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    t = re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip()
    title = _TITLE.match(t)
    if title and title.group("title"):            # the title itself is not screened; the rest of the text is
        t = t[:title.start("title")] + "TITLE" + t[title.end("title"):]
    for reading in _readings(t):
        m = _TOOL_NAMES.search(reading)
        if m:
            return ScreenHit("dictated call", m.group(0))
        for kind, pat in PATTERNS:
            m = pat.search(reading)
            if m:
                return ScreenHit(kind, m.group(0))
    return None
