"""The direction of an announcement (tightening vs easing) from weighted cue phrases, negation-aware."""

from __future__ import annotations

import math
import re

from eventstudy.events.mentions import (
    Direction,
    DirectionCue,
    Span,
    title_span,
)

# (pattern, weight): positive = tightening, negative = easing. Nouns that only name the topic ("restrictions",
# "export controls", "curbs") are not cues: both kinds of article use them. Verbs of action weigh most.
_CUES = (
    (r"tighten(?:s|ed|ing)?", 1.0),
    (r"tighter", 0.5),
    (r"(?:adds?|added|adding)\b[^.]{0,60}?\bcontrol list", 1.0),
    (r"expand(?:s|ed|ing)?\b[^.]{0,40}?\b(?:restrictions|controls|curbs)", 1.0),
    (r"(?:imposes?|imposed|imposing)\b[^.]{0,40}?\b(?:restrictions|controls|curbs|bans?|licen[cs]ing)", 1.0),
    (r"ban(?:s|ned|ning)?", 0.8),
    (r"clamp(?:down| down)|crack(?:down| down)|clampdown|crackdown", 1.0),
    (r"stricter", 0.8),
    (r"intensif(?:y|ies|ied|ying)", 0.8),
    (r"remains? firm|maintain(?:s|ed|ing)? (?:its |strategic )?controls", 0.6),
    (r"escalat(?:e|es|ed|ing|ion)", 0.5),
    (r"(?:adds?|added|adding|new|more|further|fresh)\s+(?:export\s+)?(?:restrictions|controls|curbs)", 1.0),
    (r"restrict(?:s|ed|ing)?", 0.5),
    (r"eas(?:e|es|ed|ing)", -1.0),
    (r"relax(?:es|ed|ing|ation)?", -1.0),
    (
        r"(?:approv(?:e|es|ed|ing|al|als)|grant(?:s|ed|ing)?|issu(?:e|es|ed|ing)|sanction(?:s|ed))\b[^.]{0,60}?"
        r"\b(?:licen[cs]es?|permits?)",
        -1.0,
    ),
    (r"licen[cs]es?\b[^.]{0,30}?\b(?:approved|granted|issued)", -1.0),
    (r"suspend(?:s|ed|ing)?|suspension", -1.0),
    (r"lift(?:s|ed|ing)?\b[^.]{0,40}?\b(?:ban|controls?|restrictions|curbs)", -1.0),
    (r"general licen[cs]es?", -1.0),
    (r"defer(?:s|red|ring|ral)?", -0.8),
    (r"allow(?:s|ed|ing)?\b[^.]{0,60}?\bto flow", -0.8),
    (r"truce|reprieve", -0.6),
    (r"resum(?:e|es|ed|ption)", -0.6),
)
_CUE_RE = tuple((re.compile(r"(?<!\w)(?:" + p + r")(?!\w)", re.IGNORECASE), w) for p, w in _CUES)
_NEGATION_RE = re.compile(r"(?<!\w)(?:not|n't|never|no longer|without)(?!\w)", re.IGNORECASE)


def find_direction(text: str) -> Direction:
    """Score tightening vs easing from cue phrases; see :class:`Direction` for the formula.

    A cue with a negation inside it or in the 20 characters before it ("licenses were not granted") counts
    for the other side at half weight. Overlapping cues: the longer one wins.
    """
    title_start, title_end = title_span(text)
    found: list[tuple[int, int, float]] = []
    for regex, weight in _CUE_RE:
        for m in regex.finditer(text):
            found.append((m.start(), m.end(), weight))
    found.sort(key=lambda c: (-(c[1] - c[0]), c[0]))
    cues: list[DirectionCue] = []
    for start, end, weight in found:
        if any(start < c.span.end and c.span.start < end for c in cues):
            continue
        if _NEGATION_RE.search(text[max(0, start - 20) : end]):
            weight = -0.5 * weight
        if title_start <= start and end <= title_end:
            weight *= 2
        else:  # inverted pyramid: the lead says what the article is about, the tail adds background
            weight *= 1.5 - start / max(len(text), 1)
        cues.append(DirectionCue("tightening" if weight > 0 else "easing", weight, Span(start, end, text[start:end])))
    cues.sort(key=lambda c: c.span.start)
    tight = sum(c.weight for c in cues if c.weight > 0)
    ease = -sum(c.weight for c in cues if c.weight < 0)
    total = tight + ease
    score = (tight - ease) / total if total else 0.0
    label = "tightening" if score >= 0.2 else "easing" if score <= -0.2 else "unclear"
    confidence = abs(score) * (1.0 - math.exp(-total / 3.0))
    return Direction(label, round(score, 3), round(confidence, 3), tuple(cues))
