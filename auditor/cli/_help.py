"""Help that says what each flag takes and groups the flags: applied once to the built command tree.

Typer prints a flag's Python type (``<bool>``, ``<list[str]>``); we print what the user types instead (``RATER``,
``STAT=VALUE``), nothing for on/off flags, and put the options of the bigger commands in panels (filters,
statistics, gates, output) so ``auditor audit -h`` reads like the README.
"""

from __future__ import annotations

__all__ = ["polish", "METAVARS", "PANELS"]

METAVARS = {
    "--db": "FILE", "--wait": "SECONDS", "--llm": "RATER", "--reference": "RATER", "--rubric": "NAME|FILE",
    "--dimension": "DIM", "--statistic": "STAT", "--bootstrap": "N", "--seed": "N", "--ci": "percentile|bca",
    "--threads": "N", "--difficulty": "FILE", "--alt-test-epsilon": "EPS", "--campaign": "NAME",
    "--fail-under": "STAT=VALUE", "--fail-over": "STAT=VALUE", "--design": "paired|matched", "--map": "SRC=COLUMN",
    "--rater-kind": "human|judge|simulator", "--rater-id": "RATER", "--missing-code": "CODE", "--model": "MODEL",
    "--score": "expected|argmax", "--kind": "human|simulator", "--user-kind": "KIND", "--domain": "DOMAIN",
    "--out": "FILE", "--title": "TEXT", "--top": "N", "--vs": "RATER", "--sort": "STAT", "--to": "FILE",
    "--query": "SQL", "--timeout": "SECONDS", "--where": "SQL", "--limit": "N", "--concurrency": "N",
    "--name": "NAME", "--annotators": "N|NAMES", "--overlap": "K", "--sample": "N", "--strategy": "STRATEGY",
    "--stratify-by": "COLUMN", "--stratify-dimension": "DIM", "--from-disagreements": "RATER", "--url": "URL",
    "--annotator": "NAME", "--host": "ADDRESS", "--port": "PORT", "--failed": "drop|wrong",
}

FILTERS = ("--design", "--llm", "--reference", "--rubric", "--dimension", "--campaign", "--vs", "--where",
           "--limit", "--name")
STATISTICS = ("--statistic", "--bootstrap", "--seed", "--ci", "--threads", "--difficulty", "--alt-test-epsilon",
              "--failed")
GATES = ("--fail-under", "--fail-over")
OUTPUT = ("--json", "--csv", "--out", "--title", "--top", "--sort", "--reverse", "--quiet", "--show-prompt")
PANELS = {**{o: "Filters" for o in FILTERS}, **{o: "Statistics" for o in STATISTICS},
          **{o: "Gates" for o in GATES}, **{o: "Output" for o in OUTPUT}}


def _bare_help_option(cmd) -> None:
    get = cmd.get_help_option

    def get_help_option(ctx):
        opt = get(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt
    cmd.get_help_option = get_help_option


def polish(cmd) -> None:
    """Set metavars and help panels on every parameter of ``cmd`` and its subcommands (in place). Panels only on
    the commands that compute statistics (audit, compare, report); the others keep one list."""
    for sub in (getattr(cmd, "commands", None) or {}).values():
        polish(sub)
    _bare_help_option(cmd)
    options = [p for p in cmd.params if p.param_type_name == "option"]
    grouped = sum(p.opts[0] in STATISTICS for p in options) >= 2
    for p in options:
        name = p.opts[0]
        if p.is_flag:
            p.metavar = ""
        elif p.metavar is None:
            p.metavar = "NAME" if grouped and name == "--rubric" else \
                METAVARS.get(name, name.lstrip("-").upper().replace("-", "_"))
        if grouped and getattr(p, "rich_help_panel", None) is None and name in PANELS:
            p.rich_help_panel = PANELS[name]
