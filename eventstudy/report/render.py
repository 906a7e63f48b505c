"""Render the report's sections: one self-contained HTML page, or Markdown with figures beside it.

Every piece of user text is escaped for the target format (HTML entities; Markdown syntax characters).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from typing import Any

from eventstudy.report.document import (
    Cell,
    Image,
    Link,
    Para,
    Quote,
    Section,
)

# ------------------------------------------------------------------------------------------------ rendering
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1f24;
margin:0;background:#fff}
main{max-width:1280px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:0 0 8px}h2{font-size:20px;margin:36px 0 10px;border-bottom:1px solid #d0d7de;
padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}tr:nth-child(even) td{background:#fafbfc}
th.group{text-align:center;background:#e8edf2}table.numeric td{white-space:nowrap}
.scroll{overflow-x:auto}
p.lede{font-size:16px;color:#3b4450}p.note{color:#57606a;font-size:13px}
p.warning{background:#fff8e1;border-left:4px solid #f0a500;padding:6px 10px;margin:6px 0}
blockquote{margin:8px 0 12px;padding:6px 14px;border-left:4px solid #9ecae1;background:#f5f9fc;
white-space:pre-wrap}
blockquote cite{display:block;color:#57606a;font-size:12px;margin-top:4px;font-style:normal}
figure{margin:8px 0 16px}figure img{max-width:100%;height:auto;border:1px solid #e1e4e8}
figcaption{color:#57606a;font-size:13px}
footer{margin-top:40px;color:#57606a;font-size:12px}
"""


def _html_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        cell = (cell,)
    if isinstance(cell, tuple):
        return "<br>".join(
            f'<a href="{html.escape(c.url, quote=True)}" rel="noopener noreferrer">{html.escape(c.text)}</a>'
            if isinstance(c, Link)
            else html.escape(c)
            for c in cell
        )
    return html.escape(cell)


def _html_block(block: Any, images: dict[str, bytes]) -> str:
    if isinstance(block, list):
        return "\n".join(_html_block(b, images) for b in block)
    if isinstance(block, Para):
        css = f' class="{block.kind}"' if block.kind else ""
        return f"<p{css}>{html.escape(block.text)}</p>"
    if isinstance(block, Quote):
        return f"<blockquote>{html.escape(block.text)}<cite>{html.escape(block.cite)}</cite></blockquote>"
    if isinstance(block, Image):
        data = base64.b64encode(images[block.key]).decode("ascii")
        alt = html.escape(block.caption, quote=True)
        return (
            f'<figure><img id="fig-{block.key}-img" alt="{alt}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    head = ""
    if block.groups:
        cells = "".join(f'<th class="group" colspan="{span}">{html.escape(label)}</th>' for label, span in block.groups)
        head = f"<tr>{cells}</tr>"
    head += "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in block.columns) + "</tr>"
    body = "\n".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in block.rows)
    css = ' class="numeric"' if block.numeric else ""
    return f'<div class="scroll"><table{css}><thead>{head}</thead><tbody>\n{body}\n</tbody></table></div>'


def render_html(title: str, sections: Iterable[Section], images: dict[str, bytes]) -> str:
    """The self-contained HTML page (inline CSS, figures as data URIs, no scripts)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>",
        f"<body><main><h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(_html_block(b, images) for b in section.blocks)
        parts.append("</section>")
    parts.append("<footer>Written by eventstudy (eventstudy-lab). Figures are embedded PNG images.</footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#<>])")


def md_escape(text: str) -> str:
    """Text safe in a Markdown paragraph or table cell: HTML-escaped, Markdown syntax characters and ``|``
    backslash-escaped, newlines folded."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        cell = (cell,)
    if isinstance(cell, tuple):
        return "<br>".join(
            f"[{md_escape(c.text)}]({c.url.replace('(', '%28').replace(')', '%29')})"
            if isinstance(c, Link)
            else md_escape(c)
            for c in cell
        )
    return md_escape(cell)


def _md_block(block: Any, figure_dir: str) -> str:
    if isinstance(block, list):
        return "\n".join(_md_block(b, figure_dir) for b in block)
    if isinstance(block, Para):
        prefix = "> **Warning:** " if block.kind == "warning" else ""
        text = md_escape(block.text)
        return f"{prefix}*{text}*\n" if block.kind == "note" else f"{prefix}{text}\n"
    if isinstance(block, Quote):
        return f"> {md_escape(block.text)}\n>\n> — {md_escape(block.cite)}\n"
    if isinstance(block, Image):
        return f"![{md_escape(block.caption)}]({figure_dir}/{block.key}.png)\n\n*{md_escape(block.caption)}*\n"
    columns = block.columns
    if block.groups:
        labels = [label for label, span in block.groups for _ in range(span)]
        columns = [f"{g}: {c}" if g else c for g, c in zip(labels, columns, strict=True)]
    lines = [
        "| " + " | ".join(md_escape(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows),
    ]
    return "\n".join(lines) + "\n"


def render_markdown(title: str, sections: Iterable[Section], figure_dir: str = "figures") -> str:
    """The Markdown report; figures are referenced as ``figure_dir/<key>.png``."""
    parts = [f"# {md_escape(title)}\n"]
    for section in sections:
        parts.append(f'<a id="{section.id}"></a>\n\n## {md_escape(section.title)}\n')
        parts.extend(_md_block(b, figure_dir) for b in section.blocks)
    return "\n".join(parts)
