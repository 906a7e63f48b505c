"""The event-study report: one self-contained HTML file and a Markdown file with PNG figures beside it.

:func:`write_report` turns an :class:`~eventstudy.results.EventStudyResults` into ``report.html`` (inline CSS,
figures as base64 PNG data URIs, no scripts, no external resources) and ``report.md`` (figures under
``figures/``). The content is assembled once as a list of sections made of tables, paragraphs, quotes and
figures, then rendered twice. Every piece of text that comes from a user file (labels, article excerpts,
tickers, reasons) is escaped for the target format, and links are kept only if they are ``http(s)`` URLs.

Report layer: turns results into what a reader sees. ``document`` is the content model, ``sections`` builds the
sections from results, ``reading`` writes the plain-English line, ``render`` renders HTML and Markdown, ``write``
writes the files. Figures come from :mod:`eventstudy.plotting`.
"""

from eventstudy.inference import NAIVE_TESTS, ROBUST_TESTS
from eventstudy.report.document import safe_url
from eventstudy.report.reading import reading
from eventstudy.report.render import md_escape
from eventstudy.report.write import write_report

__all__ = ["NAIVE_TESTS", "ROBUST_TESTS", "md_escape", "reading", "safe_url", "write_report"]
