"""Chemical elements named in an article: names, and symbols only in clear context ("Ho, Er, Tm", "NdFeB")."""

from __future__ import annotations

import re

from eventstudy.events.mentions import (
    ElementMention,
    Span,
)

# (name, symbol, rare earth?): the 17 rare-earth elements and the other metals China's controls name.
ELEMENTS = (
    ("scandium", "Sc", True),
    ("yttrium", "Y", True),
    ("lanthanum", "La", True),
    ("cerium", "Ce", True),
    ("praseodymium", "Pr", True),
    ("neodymium", "Nd", True),
    ("promethium", "Pm", True),
    ("samarium", "Sm", True),
    ("europium", "Eu", True),
    ("gadolinium", "Gd", True),
    ("terbium", "Tb", True),
    ("dysprosium", "Dy", True),
    ("holmium", "Ho", True),
    ("erbium", "Er", True),
    ("thulium", "Tm", True),
    ("ytterbium", "Yb", True),
    ("lutetium", "Lu", True),
    ("gallium", "Ga", False),
    ("germanium", "Ge", False),
    ("antimony", "Sb", False),
    ("tungsten", "W", False),
    ("tellurium", "Te", False),
    ("bismuth", "Bi", False),
    ("molybdenum", "Mo", False),
    ("indium", "In", False),
    ("lithium", "Li", False),
    ("cobalt", "Co", False),
)
_BY_SYMBOL = {sym: (name, ree) for name, sym, ree in ELEMENTS}
_BY_NAME = {name: (sym, ree) for name, sym, ree in ELEMENTS}
_NAME_RE = re.compile(r"(?<!\w)(" + "|".join(_BY_NAME) + r")(?!\w)", re.IGNORECASE)
_SYM = "|".join(sorted(_BY_SYMBOL, key=len, reverse=True))
# A run of at least two symbols ("Sm, Gd, Tb, Dy", "Nd/Pr", "Ga and Ge"): a list of symbols is unmistakable.
_SYM_LIST_RE = re.compile(rf"(?<![\w-])(?:{_SYM})(?:\s*(?:,|/|&|\band\b)\s*(?:and\s+)?(?:{_SYM}))+(?![\w-])")
_SYM_ONE_RE = re.compile(rf"(?:{_SYM})")
# Symbols that are also words, names or abbreviations: a list of only two of them needs a slash ("Nd/Pr").
_WORDLIKE_SYMBOLS = {"Y", "W", "In", "Co", "Li", "Mo", "La", "Ce", "Pr", "Er", "Ho", "Te", "Bi", "Sc"}
# A symbol before a material word ("Dy oxide", "Nd metal"), or a magnet formula ("NdFeB", "SmCo", "NdPr").
_SYM_MATERIAL_RE = re.compile(rf"(?<![\w-])({_SYM})(?=\s+(?:oxides?|metals?|magnets?|alloys?|concentrate)\b)")
_FORMULA_RE = re.compile(r"(?<!\w)(?:(Nd)-?Fe-?B|(Sm)-?Co|(Nd)-?(Pr)|(Sm)Co5)(?!\w)")


def find_elements(text: str) -> tuple[ElementMention, ...]:
    """Element names anywhere; symbols only in a list of symbols, before a material word, or in a formula.

    A list of two symbols that can also be ordinary words ("Li and Mo") counts only when slash-joined.
    """
    out: list[ElementMention] = []
    for m in _NAME_RE.finditer(text):
        name = m.group(1).lower()
        sym, ree = _BY_NAME[name]
        out.append(ElementMention(name, sym, ree, Span(m.start(1), m.end(1), m.group(1)), 0.95))
    for m in _SYM_LIST_RE.finditer(text):
        # the alternation may match a prefix of a longer symbol; keep whole tokens only
        symbols = [
            s
            for s in _SYM_ONE_RE.finditer(m.group(0))
            if not (m.start() + s.end() < len(text) and text[m.start() + s.end()].isalpha())
        ]
        pair_of_words = len(symbols) == 2 and "/" not in m.group(0)
        if pair_of_words and any(s.group(0) in _WORDLIKE_SYMBOLS for s in symbols):
            continue  # "Li and Mo said": two surnames, not lithium and molybdenum
        for s in symbols:
            start, end = m.start() + s.start(), m.start() + s.end()
            name, ree = _BY_SYMBOL[s.group(0)]
            out.append(ElementMention(name, s.group(0), ree, Span(start, end, text[start:end]), 0.85))
    for m in _SYM_MATERIAL_RE.finditer(text):
        name, ree = _BY_SYMBOL[m.group(1)]
        out.append(ElementMention(name, m.group(1), ree, Span(m.start(1), m.end(1), m.group(1)), 0.75))
    for m in _FORMULA_RE.finditer(text):
        for i in range(1, 6):
            if m.group(i):
                name, ree = _BY_SYMBOL[m.group(i)]
                out.append(ElementMention(name, m.group(i), ree, Span(m.start(i), m.end(i), m.group(i)), 0.9))
    unique = {(e.span.start, e.span.end): e for e in out}
    return tuple(sorted(unique.values(), key=lambda e: e.span.start))
