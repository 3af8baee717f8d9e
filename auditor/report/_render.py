"""``write_report``: audit rows + store -> NAME.html (self-contained), NAME.md and NAME.json with the same numbers."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import jinja2

from ..errors import AuditorError
from . import _plots
from ._data import build_report_data
from ._format import fmt, fmt_cell, fmt_ci, is_num, plural

__all__ = ["write_report", "render_html", "render_markdown", "report_paths"]

# The HTML never runs scripts and never loads anything: the policy makes a browser refuse both, even if some
# text slipped past escaping (every value is escaped by Jinja2's autoescape; plots are matplotlib SVG text).
LEADERBOARD_LABELS = {"eval": "Eval", "alpha": "α", "kappa_w": "κw quadratic", "mean_bias": "mean bias",
                      "leniency": "leniency", "ece": "ECE", "outcome_ece": "outcome ECE",
                      "alt_test_win": "alt-test win rate", "cost_per_1k": "cost per 1k",
                      "seconds_per_1k": "time per 1k"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def report_paths(out: str | Path) -> dict[str, Path]:
    """``reports/NAME.html`` -> {html, md, json} paths side by side. A name without .html gets it; ``NAME.md`` or
    ``NAME.json`` name the same three files; a folder gets ``report.html`` (+ .md, .json) inside it."""
    if not str(out).strip():
        raise AuditorError("--out is empty. Fix: give the report's file name, e.g. --out reports/report.html.")
    p = Path(out)
    if p.is_dir() or str(out).endswith(("/", "\\")):
        p = p / "report.html"
    elif p.suffix.lower() in (".md", ".json"):
        p = p.with_suffix(".html")
    elif p.suffix.lower() not in (".html", ".htm") and p.suffix[1:].isalpha():
        raise AuditorError(f"--out {str(out)!r}: a report is written as .html (with .md and .json beside it), not "
                           f"{p.suffix}. Fix: --out {p.with_suffix('.html')}.")
    elif p.suffix.lower() not in (".html", ".htm"):
        p = p.with_name(p.name + ".html")
    for parent in [p.parent, *p.parent.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise AuditorError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder. Fix: pass --out a "
                                   "path in a folder you can write to.")
            break
    return {"html": p, "md": p.with_suffix(".md"), "json": p.with_suffix(".json")}


def _md_escape(s) -> str:
    """Text for a Markdown table cell or paragraph: Markdown syntax and pipes backslash-escaped, one line.

    HTML-special characters are escaped afterwards by the template's finalize (entities render as text)."""
    t = "" if s is None else str(s)
    for ch in "\\`*_[]|#":
        t = t.replace(ch, "\\" + ch)
    return " ".join(t.split())


def _md_quote(s) -> str:
    """A multi-line text as a Markdown blockquote body (each line prefixed), syntax escaped."""
    lines = ("" if s is None else str(s)).splitlines() or [""]
    return "\n> ".join(_md_escape(line) if line.strip() else "" for line in lines)


def _md_finalize(v):
    """Every ``{{ }}`` of the Markdown template: ``&``, ``<`` and ``>`` become entities (they render as text),
    so no stored text can open an HTML tag in a Markdown viewer; quotes stay readable."""
    if isinstance(v, str):
        return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return v


def _env(kind: str = "html") -> jinja2.Environment:
    """HTML: Jinja2 autoescape on. Markdown: every output passes :func:`_md_finalize` (and data text |md)."""
    html = kind == "html"
    env = jinja2.Environment(loader=jinja2.PackageLoader("auditor.report", "templates"), autoescape=html,
                             finalize=None if html else _md_finalize, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(fmt=fmt, ci=fmt_ci, cell=fmt_cell, md=_md_escape, mdquote=_md_quote, plural=plural,
                       pct=lambda v: "n/a" if not is_num(v) else f"{100 * float(v):.0f}%",
                       money=lambda v: "n/a" if not is_num(v) else f"${float(v):,.2f}",
                       secs=lambda v: "n/a" if not is_num(v) else f"{float(v):,.0f} s")
    env.tests["num"] = is_num
    env.globals["lb_labels"] = LEADERBOARD_LABELS
    return env


def _plots_for(data: dict) -> dict:
    """Every plot as inline SVG, keyed by rubric index and rater index."""
    colors = data["colors"]
    out = {}
    for i, rub in enumerate(data["rubrics"]):
        out[f"r{i}"] = {"alpha": _plots.forest_alpha(rub, colors, f"r{i}-alpha"),
                        "bias": _plots.forest_bias(rub, colors, f"r{i}-bias"),
                        "dist": _plots.distributions(rub, colors, f"r{i}-dist"),
                        "plan": _plots.plan_plot(rub, colors, f"r{i}-plan")}
        for j, sec in enumerate(rub["raters"]):
            k = f"r{i}s{j}"
            out[k] = {"confusion": _plots.confusion(sec, f"{k}-conf"),
                      "reliability": None if sec.get("reliability_same_as") else
                      _plots.reliability_plot(sec, colors[sec["rater"]], f"{k}-rel"),
                      "outcome": _plots.outcome_plot(sec, colors, f"{k}-out")}
    return out


def render_html(data: dict, *, stem: str = "report") -> str:
    from markupsafe import Markup

    plots = {k: {n: (Markup(v) if v else None) for n, v in d.items()} for k, d in _plots_for(data).items()}
    return _env("html").get_template("report.html.j2").render(d=data, plots=plots, csp=CSP, stem=stem)


def render_markdown(data: dict, *, stem: str = "report") -> str:
    return _env("md").get_template("report.md.j2").render(d=data, stem=stem)


def write_report(store, out: str | Path = "reports/report.html", *, audit_rows=None, options=None,
                 n_boot: int = 1000, seed: int = 0, ci_method: str = "percentile", top: int = 10,
                 title: str | None = None, difficulty_file: str | None = None,
                 created_at: datetime | None = None, plan_halfwidth: float | None = None) -> dict[str, str]:
    """Write the agreement report for every audited LLM rater: ``NAME.html``, ``NAME.md`` and ``NAME.json``.

    Parameters
    ----------
    store : an open :class:`~auditor.Store` (read-only is enough).
    out : the HTML path; the Markdown and JSON files are written beside it with the same stem.
    audit_rows : the DataFrame :func:`auditor.audit.audit` returned; None runs the audit with ``options`` (or
        ``n_boot``, ``seed``, ``ci_method``).
    top : conversations listed per LLM rater under "largest disagreements".
    difficulty_file : a frozen task-difficulty map for the outcome-calibration table (matched design).
    plan_halfwidth : add a labelling budget (:func:`auditor.plan.plan` per paired LLM rater): conversations to label
        for alpha's 95 % interval to reach this half-width.

    Returns ``{"html": path, "md": path, "json": path}``. The HTML is one self-contained file: inline CSS and
    SVG plots, no scripts, no fonts, no network; every text from the data is escaped.
    """
    from ..audit import AuditOptions, audit

    if audit_rows is None:
        extra = {"difficulty_file": difficulty_file} if difficulty_file else {}
        options = options or AuditOptions(n_boot=n_boot, seed=seed, ci_method=ci_method, extra=extra)
        audit_rows = audit(store, options)
    if options is not None:
        n_boot, seed, ci_method = options.n_boot, options.seed, options.ci_method
    if audit_rows.empty:
        raise AuditorError("the audit returned no rows, so there is nothing to report. Fix: check that the store "
                           "holds LLM and human ratings of the same rubric (auditor audit).")
    paths = report_paths(out)
    settings = {"n_boot": int(n_boot), "seed": seed, "ci_method": ci_method, "confidence": 0.95,
                "top_disagreements": int(top), "difficulty_file": difficulty_file, "plan_halfwidth": plan_halfwidth}
    data = build_report_data(store, audit_rows, settings=settings, title=title, top=top,
                             difficulty_file=difficulty_file, created_at=created_at, plan_halfwidth=plan_halfwidth)
    stem = paths["html"].stem
    html = render_html(data, stem=stem)
    md = render_markdown(data, stem=stem)
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False, indent=1, default=str)
    try:
        paths["html"].parent.mkdir(parents=True, exist_ok=True)
        paths["html"].write_text(html, encoding="utf-8")
        paths["md"].write_text(md, encoding="utf-8")
        paths["json"].write_text(payload + "\n", encoding="utf-8")
    except OSError as e:
        raise AuditorError(f"{out}: cannot write the report ({e.strerror}). Fix: pass --out a writable path.") \
            from None
    return {k: str(v) for k, v in paths.items()}
