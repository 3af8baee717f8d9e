"""The report's plots: matplotlib figures rendered to inline SVG strings (no external references, no scripts).

Humans are drawn in one blue everywhere and each LLM rater in its own colour (``_data.HUMAN_COLOR``,
``LLM_COLORS``); every plot has labelled axes, dimension names and, where the audit has them, the intervals.
Text stays text (``svg.fonttype = none``), so the SVG is small, searchable and escaped by matplotlib's XML writer;
no raster images are embedded (matrices are drawn as vector cells).
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ._format import is_num, plot_text

__all__ = ["to_svg", "forest_alpha", "forest_bias", "distributions", "confusion", "reliability_plot",
           "outcome_plot", "plan_plot", "RC"]

RC = {"svg.fonttype": "none", "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10,
      "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9, "axes.spines.top": False,
      "axes.spines.right": False, "font.family": ["DejaVu Sans", "sans-serif"], "hatch.linewidth": 0.8}
GREY = "#8a8f98"
INK = "#3d444d"
_ID = re.compile(r'\bid="([^"]+)"')
_WIDTH = re.compile(r'<svg [^>]*?width="([0-9.]+)pt"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')


def to_svg(fig: Figure, key: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, DOCTYPE or metadata, ids prefixed with
    ``key`` so several plots can share one page, and a deterministic output for equal inputs."""
    buf = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
                    bbox_inches="tight", pad_inches=0.08)
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"<metadata>.*?</metadata>\s*", "", s, flags=re.S)
    s = _ID.sub(lambda m: f'id="{key}-{m.group(1)}"', s)
    s = _REF.sub(lambda m: f"{m.group(1)}{key}-{m.group(2)}", s)
    # CSS stretches a plot to the column's width (its text scales with it); this caps the stretch at 1.3 times the
    # drawn size, so a small figure is not blown up to poster type on a wide page
    m = _WIDTH.search(s[:400])
    cap = f' style="max-width: {1.3 * float(m.group(1)) * 4 / 3:.0f}px"' if m else ""
    return s.replace("<svg ", f'<svg class="plot" role="img" aria-labelledby="{key}-cap"{cap} ', 1)


def _figure(w: float, h: float) -> Figure:
    with matplotlib.rc_context(RC):
        return Figure(figsize=(w, h))


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return int(math.ceil(n / cols)), cols


def _ok(c: dict | None) -> bool:
    return bool(c) and is_num(c.get("value"))


def _err(c: dict) -> tuple[float, float] | None:
    if is_num(c.get("ci_low")) and is_num(c.get("ci_high")):
        return c["value"] - c["ci_low"], c["ci_high"] - c["value"]
    return None


def _legend_top(fig: Figure, handles, labels, ncol: int | None = None):
    """A legend just above the top row of axes (and its titles), centred on the figure."""
    axes = [ax for ax in fig.axes if ax.get_visible()]
    top = max(ax.get_position().y1 for ax in axes)
    titled = any(ax.get_title() for ax in axes)
    lines = max(t.count("\n") for t in [ax.get_title() for ax in axes] + [""]) + 1 if titled else 0
    y = top + (0.08 + 0.22 * lines) / fig.get_figheight()
    with matplotlib.rc_context(RC):
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, y), frameon=False,
                   ncol=ncol or min(3, max(len(labels), 1)), borderaxespad=0.0)


def _forest(ax, rows: list[dict], who: list[str], dims: list[str], colors: dict, labels: dict):
    """Point + interval per (who, dimension); dimensions top to bottom, raters side by side within a row."""
    k = len(who)
    step = 0.7 / max(k, 1)
    handles = []
    for i, w in enumerate(who):
        off = -(i - (k - 1) / 2) * step
        ys, xs, errs = [], [], []
        for j, d in enumerate(dims):
            c = next((r for r in rows if r.get("who", r.get("rater")) == w and r["dimension"] == d), None)
            if not _ok(c):
                continue
            ys.append(len(dims) - 1 - j + off)
            xs.append(c["value"])
            errs.append(_err(c) or (0.0, 0.0))
        col = colors.get(w, GREY)
        if xs:
            ax.errorbar(xs, ys, xerr=np.array(errs).T, fmt="o", color=col, ecolor=col, elinewidth=1.8, capsize=3,
                        markersize=5)
        handles.append(Line2D([], [], color=col, marker="o", linewidth=1.8,
                              label=plot_text(labels.get(w, w), 48) + ("" if xs else " (undefined)")))
    ax.set_yticks(range(len(dims)))
    ax.set_yticklabels([plot_text(d, 30) for d in reversed(dims)])
    ax.set_ylim(-0.6, len(dims) - 0.4)
    ax.grid(axis="x", color="#e3e6ea", linewidth=0.8)
    ax.set_axisbelow(True)
    return handles


def forest_alpha(rub: dict, colors: dict, key: str) -> str | None:
    """Krippendorff's alpha per dimension for each paired LLM rater, with the human ceiling (or, without one, the
    conventional 0.667 / 0.800 thresholds as dashed lines)."""
    paired = [s["rater"] for s in rub["raters"] if s["design"] == "paired"]
    rows = [a for a in rub["alpha"] if a["who"] in paired or a["who"] == "human_loo"]
    if not any(_ok(r) for r in rows if r["who"] in paired):
        return None
    dims = [d["name"] for d in rub["dimensions"]]
    who = paired + (["human_loo"] if rub["has_ceiling"] else [])
    cols = {**colors, "human_loo": colors["humans"]}
    labels = {"human_loo": "human ceiling: each human vs the others"}
    fig = _figure(9.0, 0.9 + 0.3 * len(dims) * max(1.0, len(who) / 2.5))
    ax = fig.add_subplot()
    handles = _forest(ax, rows, who, dims, cols, labels)
    if not rub["has_ceiling"]:
        for x, style in ((0.667, (0, (4, 3))), (0.8, (0, (1.5, 2)))):
            ax.axvline(x, color=INK, linestyle=style, linewidth=1.1)
        handles.append(Line2D([], [], color=INK, linestyle=(0, (4, 3)), label="0.667: tentative (conventional)"))
        handles.append(Line2D([], [], color=INK, linestyle=(0, (1.5, 2)), label="0.800: reliable (conventional)"))
    ax.axvline(0, color=INK, linewidth=0.9)
    vals = [v for r in rows for v in (r.get("ci_low"), r.get("value")) if is_num(v)]
    ax.set_xlim(min(min(vals, default=0.0) - 0.05, -0.1), 1.02)
    ax.set_xlabel("Krippendorff's α with 95% CI   (1 = perfect agreement, 0 = chance, < 0 = systematic "
                  "disagreement)")
    ax.set_ylabel("dimension")
    _legend_top(fig, handles, [h.get_label() for h in handles], ncol=2)
    return to_svg(fig, key)


def forest_bias(rub: dict, colors: dict, key: str) -> str | None:
    """Signed bias (LLM - human mean difference, in scale points) per dimension with CIs; 0 = no bias."""
    raters = [s["rater"] for s in rub["raters"]]
    rows = rub["bias"]
    if not any(_ok(r) for r in rows):
        return None
    dims = [d["name"] for d in rub["dimensions"]]
    rng = {d["name"]: d["range"] for d in rub["dimensions"]}
    fig = _figure(9.0, 0.9 + 0.3 * len(dims) * max(1.0, len(raters) / 2.5))
    ax = fig.add_subplot()
    handles = _forest(ax, rows, raters, dims, colors, {})
    ax.set_yticklabels([plot_text(f"{d} ({rng[d][0]:g}–{rng[d][1]:g})", 34) for d in reversed(dims)])
    ax.axvline(0, color=INK, linewidth=1.0)
    lim = max([abs(v) for r in rows for v in (r.get("ci_low"), r.get("ci_high"), r.get("value")) if is_num(v)]
              or [1.0]) * 1.1
    ax.set_xlim(-lim, lim)
    ax.set_xlabel("mean(LLM − human) with 95% CI, in scale points   (< 0 harsher than the humans, "
                  "> 0 more lenient)")
    ax.set_ylabel("dimension (option range)")
    _legend_top(fig, handles, [h.get_label() for h in handles], ncol=2)
    return to_svg(fig, key)


def distributions(rub: dict, colors: dict, key: str) -> str | None:
    """Share of answers per option, humans next to each LLM rater, one panel per dimension."""
    panels = rub["distributions"]
    if not panels:
        return None
    nrow, ncol = _grid(len(panels), 3)
    long = max((len(lab) for p in panels for lab in p["labels"]), default=0) > 6
    fig = _figure(10.0, 0.4 + (2.5 if long else 2.2) * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    handles: dict[str, object] = {}
    for i, (ax, p) in enumerate(zip(axes.flat, panels)):
        series = p["series"]
        k = len(series)
        width = 0.8 / k
        x = np.arange(len(p["values"]))
        for j, s in enumerate(series):
            human = s["kind"] == "human"
            col = colors["humans"] if human else colors.get(s["who"], GREY)
            h = ax.bar(x + (j - (k - 1) / 2) * width, s["share"], width=width * 0.95, color=col,
                       hatch="////" if s["off_options"] else None, edgecolor="white", linewidth=0.4)
            handles.setdefault(s["who"], h)
        n_h = next((s["n"] for s in series if s["kind"] == "human"), None)
        ax.set_title(plot_text(p["dimension"], 30) + (f"  (human n={n_h})" if n_h is not None else ""))
        ax.set_xticks(x)
        ax.set_xticklabels([plot_text(lab, 16) for lab in p["labels"]], rotation=30 if long else 0,
                           ha="right" if long else "center", rotation_mode="anchor")
        ax.set_ylim(0, 1)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.grid(axis="y", color="#e3e6ea", linewidth=0.8)
        ax.set_axisbelow(True)
        if i % ncol == 0:
            ax.set_ylabel("share of answers")
        if i >= len(panels) - ncol:
            ax.set_xlabel("option")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.subplots_adjust(hspace=0.75 if long else 0.55, wspace=0.22)
    names = list(handles)
    labels = [plot_text(n if n != "humans" else "humans", 48) for n in names]
    _legend_top(fig, [handles[n] for n in names], labels)
    return to_svg(fig, key)


def confusion(sec: dict, key: str) -> str | None:
    """Counts of (human consensus option, LLM option) per dimension; shading = share of the human row."""
    mats = sec["confusion"]
    if not mats:
        return None
    nrow, ncol = _grid(len(mats), 3 if len(mats) <= 6 else 4)
    fig = _figure(2.75 * ncol, 0.3 + 2.8 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, (ax, m) in enumerate(zip(axes.flat, mats)):
        c = np.array(m["counts"], dtype=float)
        share = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
        k = c.shape[0]
        ax.pcolormesh(np.arange(k + 1) - 0.5, np.arange(k + 1) - 0.5, share, cmap="Blues", vmin=0, vmax=1,
                      edgecolors="white", linewidth=0.6)
        for (r, q), v in np.ndenumerate(c):
            ax.text(q, r, f"{int(v)}", ha="center", va="center", fontsize=8.5,
                    color="white" if share[r, q] > 0.55 else "#1d232b")
        ticks = [plot_text(lab, 12) for lab in m["labels"]]
        ax.set_xticks(range(k))
        ax.set_xticklabels(ticks, rotation=30 if max(map(len, ticks), default=0) > 4 else 0,
                           ha="right" if max(map(len, ticks), default=0) > 4 else "center")
        ax.set_yticks(range(k))
        ax.set_yticklabels(ticks)
        ax.set_xlim(-0.5, k - 0.5)
        ax.set_ylim(k - 0.5, -0.5)
        ax.set_aspect("equal")
        ax.set_xlabel("LLM answer" + (" (nearest option)" if m["llm_off_options"] else ""))
        if i % ncol == 0:
            ax.set_ylabel("human answer (consensus)")
        ax.set_title(plot_text(m["dimension"], 30) + f"  (n={m['n']})")
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)
    for ax in list(axes.flat)[len(mats):]:
        ax.set_visible(False)
    fig.subplots_adjust(hspace=0.55, wspace=0.3)
    return to_svg(fig, key)


def reliability_plot(sec: dict, color: str, key: str) -> str | None:
    """Observed accuracy against stated confidence per bin (pooled and per dimension); the diagonal is perfect
    calibration, marker area ~ number of forecasts in the bin."""
    rel = sec.get("reliability")
    if not rel:
        return None
    panels = [rel["pooled"]] + (rel["dimensions"] if len(rel["dimensions"]) > 1 else [])
    nrow, ncol = _grid(len(panels), 5)
    fig = _figure(2.3 * ncol, 0.35 + 2.55 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for i, (ax, p) in enumerate(zip(axes.flat, panels)):
        b = [x for x in p["bins"] if x["n"] > 0]
        ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=0.9)
        if b:
            conf = [x["confidence"] for x in b]
            acc = [x["accuracy"] for x in b]
            size = [14 + 140 * x["n"] / max(p["n"], 1) for x in b]
            ax.plot(conf, acc, color=color, linewidth=1.3)
            ax.scatter(conf, acc, s=size, color=color, zorder=3, edgecolor="white", linewidth=0.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])      # short labels: neighbouring panels' do not touch
        ax.set_yticks([0, 0.5, 1], ["0", "0.5", "1"])
        ece = f"ECE {p['ece']:.3f}" if is_num(p.get("ece")) else "ECE n/a"
        ax.set_title(plot_text(p["dimension"], 22) + f"\n{ece}, n={p['n']}", fontsize=9.5)
        ax.set_xlabel("stated confidence")
        if i % ncol == 0:
            ax.set_ylabel("share correct")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.subplots_adjust(hspace=0.5, wspace=0.45)
    return to_svg(fig, key)


def outcome_plot(sec: dict, colors: dict, key: str) -> str | None:
    """Task success per difficulty bin: real users next to the LLM user (matched design)."""
    out = sec.get("outcome")
    if not out or not out.get("bins") or not out["n_tasks"]:
        return None
    bins = out["bins"]
    x = np.arange(len(bins))
    fig = _figure(7.5, 3.0)
    ax = fig.add_subplot()
    hum = [b["human_success"] if b["human_success"] is not None else np.nan for b in bins]
    llm = [b["llm_success"] if b["llm_success"] is not None else np.nan for b in bins]
    h1 = ax.bar(x - 0.2, hum, width=0.38, color=colors["humans"])
    h2 = ax.bar(x + 0.2, llm, width=0.38, color=colors.get(sec["rater"], GREY))
    ax.set_xticks(x)
    ax.set_xticklabels([f"{b['label']}\n{b['n_tasks']} task{'' if b['n_tasks'] == 1 else 's'}" for b in bins])
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", color="#e3e6ea", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel("task difficulty bin (success rate pooled over the simulators' runs)")
    ax.set_ylabel("success rate")
    _legend_top(fig, [h1, h2], ["real users", plot_text(sec["rater"], 48)])
    return to_svg(fig, key)


def plan_plot(rub: dict, colors: dict, key: str) -> str | None:
    """Labelling budget: alpha's simulated interval half-width against labelled conversations (log scale), one
    line per LLM rater, the target as a dashed line and each rater's recommended size marked."""
    entries = [e for e in rub.get("plan") or [] if e["curve"]]
    if not entries:
        return None
    fig = _figure(6.4, 3.4)
    ax = fig.add_subplot(1, 1, 1)
    for e in entries:
        pts = sorted((c["n"], c["halfwidth"]) for c in e["curve"] if is_num(c["halfwidth"]))
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3.5, lw=1.4,
                color=colors.get(e["rater"], INK), label=plot_text(f"{e['rater']} ({e['dimension']})", 40))
        if e["recommended_n"]:
            ax.plot([e["recommended_n"]], [e["check_halfwidth"]], marker="D", ms=7, color=colors.get(e["rater"], INK))
    ax.axhline(entries[0]["target"], color=GREY, ls="--", lw=1)
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ticks = sorted({c["n"] for e in entries for c in e["curve"] if is_num(c["halfwidth"])})
    keep = [t for i, t in enumerate(ticks) if i == 0 or t >= 1.35 * ticks[i - 1]]      # no crowding
    ax.xaxis.set_major_locator(FixedLocator(keep))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("labelled conversations (simulated studies from the pilot)")
    ax.set_ylabel("half-width of α's 95% interval")
    ax.legend(frameon=False, loc="upper right")
    return to_svg(fig, key)
