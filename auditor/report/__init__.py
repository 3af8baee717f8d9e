"""Agreement reports (HTML + Markdown + JSON) and the leaderboard of LLM raters.

``write_report(store, "reports/NAME.html", audit_rows=df)`` writes one self-contained HTML file (inline SVG plots,
no scripts, no network) with ``NAME.md`` and ``NAME.json`` beside it. :func:`leaderboard` and
:func:`paired_difference` are what ``auditor compare`` prints.
"""

from ._data import build_report_data
from ._render import render_html, render_markdown, report_paths, write_report
from .compare import LEADERBOARD_COLUMNS, leaderboard, paired_difference, sort_leaderboard

__all__ = ["LEADERBOARD_COLUMNS", "build_report_data", "leaderboard", "paired_difference", "render_html",
           "render_markdown", "report_paths", "sort_leaderboard", "write_report"]
