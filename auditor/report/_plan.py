"""The report's labelling budget (``auditor report --plan-halfwidth H``): for each paired LLM rater of a rubric,
:func:`auditor.plan.plan` on its first dimension with pilot pairs: alpha's interval half-width against the number of
labelled conversations, and the number that reaches H."""

from __future__ import annotations

from ..errors import AuditorError
from ._rows import clean

__all__ = ["plan_section"]


def plan_section(store, rubric, raters: list[str], target: float, *, seed: int = 0) -> list[dict]:
    """``[{rater, dimension, target, recommended_n, check_halfwidth, note, curve: [{n, halfwidth}]}]``; a rater
    that cannot be planned for gets its reason in ``note`` and an empty curve."""
    from ..plan import PlanOptions, plan

    out = []
    for rater in raters:
        entry = {"rater": rater, "dimension": None, "target": target, "recommended_n": None,
                 "check_halfwidth": None, "note": "", "curve": []}
        for dim in rubric.dimension_names:
            try:
                res = plan(store, PlanOptions(rater=rater, rubric=rubric.name, dimension=dim, target=target,
                                              statistics=["krippendorff_alpha"], reps=10, n_boot=200,
                                              alt_test=False, seed=seed))
            except AuditorError as e:
                entry["note"] = str(e)
                continue
            rec = res["recommended"].iloc[0]
            curve = res["curve"]
            entry.update(dimension=dim, recommended_n=clean(rec["recommended_n"]),
                         check_halfwidth=clean(rec["check_halfwidth"]), note=str(rec["note"]),
                         pilot_n=int(res["pilot"]["n"]),
                         curve=[{"n": int(r.n), "halfwidth": clean(r.halfwidth)} for r in curve.itertuples()])
            break
        out.append(entry)
    return out
