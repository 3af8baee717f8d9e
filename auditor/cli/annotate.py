"""`auditor annotate create|list|show|close` and `auditor serve`: human-rating campaigns in a local web app."""

from __future__ import annotations

import json
import sys

import typer
from rich.markup import escape

from ..errors import AuditorError
from ._common import JSON_OPT, console, db_path, emit, handle_errors, lock_wait, open_store, records

app = typer.Typer(help="Human-rating campaigns: pick conversations, assign annotators, hand out private links.",
                  no_args_is_help=True)
DEFAULT_URL = "http://127.0.0.1:8765"


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="annotate")
    root.command("serve")(serve_cmd)


def _sample_size(store, sample: str | None, *, rubric, target, rater, statistic, dimension, seed) -> int | None:
    """--sample N, or --sample auto: what `auditor plan` recommends minus the pilot's labelled conversations."""
    from ..errors import AuditorError

    if sample is None:
        return None
    if sample.strip().lower() != "auto":
        try:
            return int(sample)
        except ValueError:
            raise AuditorError(f"--sample {sample!r}: give a number of conversations or auto") from None
    from ..plan import plan

    res = plan(store, rater=rater, rubric=rubric, dimension=dimension, statistics=[statistic], target=target,
               reps=10, n_boot=200, alt_test=False, seed=seed)
    rec = res["recommended"].iloc[0]
    pilot = res["pilot"]["n"]
    if rec["recommended_n"] is None or rec["recommended_n"] != rec["recommended_n"]:
        raise AuditorError(f"--sample auto: {rec['note']}. Fix: give --sample N.")
    more = int(rec["recommended_n"]) - pilot
    if more <= 0:
        raise AuditorError(f"--sample auto: the {pilot} labelled conversations already give a half-width of "
                           f"{statistic} at or below {target:g} (`auditor plan` recommends {rec['recommended_n']}). "
                           "Fix: lower --target-halfwidth, or give --sample N.")
    console.print(f"--sample auto: `auditor plan` recommends {rec['recommended_n']} conversations for a half-width "
                  f"of {target:g} on {statistic} ({res['pilot']['rater']}, {res['pilot']['dimension']}); the pilot "
                  f"has {pilot}, so {more} more are drawn", highlight=False, markup=False)
    return more


@app.command("create")
@handle_errors
def create_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Campaign name (letters, digits, . _ -)."),
               rubric: str = typer.Option(..., "--rubric", help="Rubric whose questions people answer."),
               annotators: str = typer.Option(..., "--annotators", help="Comma-separated names, e.g. alice,bob,carol."),
               overlap: int = typer.Option(2, "--overlap", help="Annotators per conversation (K)."),
               sample: str = typer.Option(None, "--sample", metavar="N|auto",
                                          help="How many conversations to draw; auto = as many more as `auditor "
                                               "plan` says the pilot needs for --target-halfwidth."),
               target: float = typer.Option(0.05, "--target-halfwidth",
                                            help="With --sample auto: the 95 % interval half-width to reach."),
               plan_rater: str = typer.Option(None, "--plan-rater",
                                              help="With --sample auto: the LLM rater to plan for (default: the "
                                                   "only one)."),
               plan_statistic: str = typer.Option("krippendorff_alpha", "--plan-statistic",
                                                  help="With --sample auto: the statistic whose interval counts."),
               strategy: str = typer.Option(None, "--strategy",
                                            help="all | random | stratified (default: random with --sample, "
                                                 "stratified with --stratify-by, else all)."),
               stratify_by: str = typer.Option(None, "--stratify-by",
                                               help="system | task | llm_score | metadata.KEY"),
               stratify_dimension: str = typer.Option(None, "--stratify-dimension",
                                                      help="Dimension for --stratify-by llm_score (default: the "
                                                           "rubric's first)."),
               where: str = typer.Option(None, "--where", help="SQL condition on the conversations table."),
               seed: int = typer.Option(0, "--seed", help="Random seed for sampling and assignment."),
               from_disagreements: str = typer.Option(None, "--from-disagreements", metavar="RATER",
                                                      help="A relabelling queue: the conversations where this LLM "
                                                           "rater departs most from the humans (not a random "
                                                           "sample)."),
               top: int = typer.Option(None, "--top", help="How many conversations --from-disagreements takes."),
               url: str = typer.Option(DEFAULT_URL, "--url", help="Where `auditor serve` will be reached (for the "
                                                                  "printed links)."),
               as_json: bool = JSON_OPT):
    """Create a campaign and print one private link per annotator plus the admin link (shown once)."""
    from ..campaign import create_campaign

    with open_store(ctx) as store:
        sample = _sample_size(store, sample, rubric=rubric, target=target, rater=plan_rater,
                              statistic=plan_statistic, dimension=stratify_dimension, seed=seed)
        made = create_campaign(store, name, rubric=rubric, annotators=annotators, overlap=overlap, sample=sample,
                               strategy=strategy, stratify_by=stratify_by, stratify_dimension=stratify_dimension,
                               where=where, seed=seed, from_disagreements=from_disagreements, top=top)
    links = made.links(url)
    if as_json:
        sys.stdout.write(json.dumps(links) + "\n")
        return
    how = (f"where {from_disagreements} departs most from the humans: not a random sample, so the audit will not "
           "correct estimates with these labels" if made.strategy == "disagreement" else made.strategy)
    console.print(f"campaign [bold]{escape(made.campaign)}[/]: {made.n_items} of {made.population} conversations "
                  f"({escape(how)}), rubric {escape(made.rubric)}, {overlap} annotators per item", highlight=False)
    for a in links["annotators"]:
        console.print(f"  {escape(a['name'])} ({made.loads[a['name']]} items): {a['url']}", highlight=False,
                      soft_wrap=True)
    console.print(f"  admin: {links['admin_url']}", highlight=False, soft_wrap=True)
    from urllib.parse import urlsplit

    where = urlsplit(url)
    flags = "" if where.port in (None, 8765) else f" --port {where.port}"
    flags += "" if where.hostname in (None, "127.0.0.1", "localhost") else f" --host {where.hostname}"
    console.print("These links are shown only now (the store keeps only their hashes). Next: "
                  f"`auditor --db {escape(db_path(ctx))} serve{flags}`, then send each person their link.",
                  highlight=False)


@app.command("list")
@handle_errors
def list_cmd(ctx: typer.Context, as_json: bool = JSON_OPT):
    """Every campaign with its status and progress."""
    from ..campaign import list_campaigns

    with open_store(ctx, read_only=True) as store:
        df = list_campaigns(store)
    if df.empty and not as_json:
        console.print("No campaign yet. Fix: `auditor annotate create NAME --rubric R --annotators a,b`.")
        return
    emit(df, as_json=as_json, as_csv=False, key="campaigns")


@app.command("show")
@handle_errors
def show_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Campaign name."), as_json: bool = JSON_OPT):
    """One campaign: its design (strata, inclusion probabilities) and each annotator's progress."""
    from ..campaign import campaign_info, progress

    with open_store(ctx, read_only=True) as store:
        info = campaign_info(store, name)
        prog = progress(store, name)
    if as_json:
        from ..web._pages import jsonable

        sys.stdout.write(json.dumps({"campaign": jsonable(info), "progress": records(prog)}, default=str) + "\n")
        return
    console.print(f"campaign [bold]{info['campaign']}[/] ({info['status']}): rubric {info['rubric']}, "
                  f"{info['n_items']} items of {info['population_n']} ({info['strategy']}"
                  + (f" by {info['stratify_by']}" if info["stratify_by"] else "") + f"), overlap {info['overlap']}, "
                  f"seed {info['seed']}" + (f", where {escape(info['where_sql'])}" if info["where_sql"] else ""),
                  highlight=False)
    import pandas as pd

    emit(pd.DataFrame(info["strata"]), as_json=False, as_csv=False, title="items by stratum")
    emit(prog, as_json=False, as_csv=False, title="progress")


@app.command("reissue")
@handle_errors
def reissue_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Campaign name."),
                annotator: str = typer.Option(None, "--annotator", help="Whose link to replace."),
                admin: bool = typer.Option(False, "--admin", help="Replace the admin link."),
                url: str = typer.Option(DEFAULT_URL, "--url", help="Where `auditor serve` is reached."),
                as_json: bool = JSON_OPT):
    """A new private link for an annotator who lost theirs (or for the admin); the old link stops working."""
    from ..campaign import reissue_link

    if bool(annotator) == admin:
        raise AuditorError("say whose link to replace: --annotator NAME or --admin (one of them).")
    with open_store(ctx) as store:
        token = reissue_link(store, name, None if admin else annotator)
    base = url.rstrip("/")
    link = f"{base}/campaigns/{name}?token={token}" if admin else f"{base}/a/{token}"
    if as_json:
        sys.stdout.write(json.dumps({"campaign": name, "annotator": None if admin else annotator, "url": link,
                                     "token": token}) + "\n")
        return
    console.print(f"new {'admin' if admin else escape(annotator) + chr(39) + 's'} link for campaign {escape(name)} "
                  f"(the old one no longer works; answers are kept): {link}", highlight=False, soft_wrap=True)


@app.command("close")
@handle_errors
def close_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="Campaign name."),
              as_json: bool = JSON_OPT):
    """Close a campaign: no more submissions (its answers stay in the store)."""
    from ..campaign import close_campaign

    with open_store(ctx) as store:
        close_campaign(store, name)
    if as_json:
        sys.stdout.write(json.dumps({"campaign": name, "closed": True}) + "\n")
        return
    console.print(f"campaign {name} closed: it accepts no more answers.", highlight=False)


@handle_errors
def serve_cmd(ctx: typer.Context,
              host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (127.0.0.1 = this machine "
                                                                   "only)."),
              port: int = typer.Option(8765, "--port", help="TCP port."),
              bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for the dashboard's "
                                                                      "intervals.")):
    """Serve annotation, browse and dashboard pages on a local web server (the store's only writer meanwhile)."""
    from ..campaign import list_campaigns
    from ..store import Store
    from ..web import serve

    if not 0 < port < 65536:
        raise AuditorError(f"--port {port}: use a TCP port between 1 and 65535.")
    _check_port(host, port)
    store = Store(db_path(ctx), lock_wait=lock_wait(ctx))
    try:
        camps = list_campaigns(store)
        shown = host if ":" not in host else f"[{host}]"

        def ready():
            console.print(f"auditor serve: http://{shown}:{port} (store {escape(store.path)}; Ctrl-C stops). "
                          "While it runs it is the store's only writer: other commands on this file wait, then "
                          "say so.",
                          highlight=False)
            open_ = camps[camps["status"] == "open"]["campaign"].tolist() if len(camps) else []
            console.print(f"open campaigns: {', '.join(open_) or 'none'} (admin and annotator links were printed by "
                          "`auditor annotate create`).", highlight=False)

        serve(store, host=host, port=port, n_boot=bootstrap, on_ready=ready)
    finally:
        store.close()


def _check_port(host: str, port: int) -> None:
    """Fail with one line (not uvicorn's log and exit) when the address cannot be bound."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise AuditorError(f"--host {host!r}: {e.strerror or e}. Fix: use an interface address such as "
                           "127.0.0.1.") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(addr)
        except OSError as e:
            raise AuditorError(f"cannot listen on {host}:{port}: {e.strerror or e}. Fix: pick another --port, or "
                               "stop what uses this one.") from None
