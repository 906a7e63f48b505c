"""Legal instruments named in an article ("MOFCOM Announcement No. 61 of 2025", "export control list")."""

from __future__ import annotations

import re

from eventstudy.events.mentions import (
    InstrumentMention,
    Span,
)

_ISSUER = (
    r"(?:(?P<issuer>MOFCOM|Ministry of Commerce|Commerce Ministry)"
    r"(?:\s*(?:&|and)\s*(?:the\s+)?(?P<co>GAC|General Administration of Customs|MOST|"
    r"Ministry of Science and Technology))?\s+)?"
)
_NUMBERS = r"(?P<nums>\d{1,3}(?:\s*(?:,|&|and|-|–|to)\s*\d{1,3})*)"
_ANNOUNCEMENT_RE = re.compile(
    r"(?<!\w)"
    + _ISSUER
    + r"(?:Announcements?|Ann\.)\s+(?:\[(?P<y1>\d{4})\]\s*)?(?:No\.|Nos\.|Number|Numbers)\s*"
    + _NUMBERS
    + r"(?:\s*(?:of\s+|,\s*|\[|\()(?P<y2>\d{4})[\])]?)?"
)
_BARE_NUMBER_RE = re.compile(r"(?<!\w)(?:No\.|Nos\.)\s*" + _NUMBERS + r"\s+of\s+(?P<y2>20\d{2})(?!\d)")
_NAMED_INSTRUMENTS = (
    (r"Export Control Law", "Export Control Law", 0.9),
    (
        r"(?:Regulations? on (?:the )?Export Control of Dual-Use Items|Dual-Use Items? Export Control Regulations?)",
        "Regulations on the Export Control of Dual-Use Items",
        0.9,
    ),
    (r"[Uu]nreliable[- ][Ee]ntity [Ll]ist", "Unreliable Entity List", 0.9),
    (r"[Ee]xport[- ][Cc]ontrol [Ll]ist|control list", "export control list", 0.6),
    (
        r"Catalogue? of Technologies Prohibited (?:and|or|/) Restricted from Export",
        "Catalogue of Technologies Prohibited and Restricted from Export",
        0.9,
    ),
    (r"general (?:export )?licen[cs]es?", "general licence", 0.7),
    (r"export licen[cs]es?|export permits?", "export licence", 0.5),
)
_NAMED_RE = tuple((re.compile(r"(?<!\w)" + p + r"(?!\w)"), name, c) for p, name, c in _NAMED_INSTRUMENTS)


def find_instruments(text: str) -> tuple[InstrumentMention, ...]:
    """Numbered announcements (normalised to "<issuer> Announcement No. N of YYYY") and named instruments."""
    out: list[InstrumentMention] = []
    taken: list[tuple[int, int]] = []
    for regex, conf in ((_ANNOUNCEMENT_RE, 0.95), (_BARE_NUMBER_RE, 0.6)):
        for m in regex.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            groups = m.groupdict()
            issuer = " & ".join(x for x in (groups.get("issuer"), groups.get("co")) if x)
            year = groups.get("y1") or groups.get("y2")
            numbers = re.sub(r"\s+", " ", m.group("nums"))
            label = "Announcements Nos. " if re.search(r"[,&–-]|and|to", numbers) else "Announcement No. "
            name = (issuer + " " if issuer else "") + label + numbers + (f" of {year}" if year else "")
            out.append(InstrumentMention(name, Span(m.start(), m.end(), m.group(0)), conf if year else conf * 0.8))
    for regex, name, conf in _NAMED_RE:
        for m in regex.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            out.append(InstrumentMention(name, Span(m.start(), m.end(), m.group(0)), conf))
    return tuple(sorted(out, key=lambda i: i.span.start))
