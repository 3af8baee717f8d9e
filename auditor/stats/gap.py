"""The evaluative gap between LLM users and real users (the tau-bench human study), as pure functions.

The study ("Mind the Sim2Real Gap in User Simulation for Agentic Tasks", arXiv 2603.11245) has each task done by
several human "batches" (one real user each) and by each LLM user simulator (one or more runs); after every
conversation the user answers the ``tau_usi`` survey about *its own* conversation, and the benchmark's rule-based
reward says whether the task succeeded. Humans and simulators are therefore *matched by task*, not paired by
conversation, and every interval here comes from a bootstrap over the unit (task; conversation for paired judges).

Inputs are arrays with one row per unit (task) and one column per run / human batch, NaN where missing (the code is
in ``_gap_eval``, ``_gap_outcome`` and ``_gap_matched``; constants and shared helpers in ``_gap_common``):

- :func:`eval_unit_scores` -- per-unit Eval from long answer tables; :func:`eval_score` aggregates the (U, G)
  matrix of per-unit scores against each reference group (human batch): mean over groups +- population std.
- :func:`outcome_ece` -- difficulty-binned calibration of a simulator's success against each human batch;
  :func:`outcome_ece_between` the same between pairs of human batches (the ceiling).
- :func:`success_rate_gap` -- LLM-user success minus human success ("easy mode" inflation);
  :func:`success_rate_gap_between` the spread between pairs of human batches.
- :func:`matched_distribution_stats` -- one dimension's answer distributions matched by task (mean shift,
  Wasserstein, Jensen-Shannon, leniency / severity, variance ratio); :func:`matched_distribution_between` the
  distances between pairs of human batches (the noise floor).

References
----------
"Mind the Sim2Real Gap in User Simulation for Agentic Tasks", arXiv 2603.11245; released scorer
``agents/tau_usi/usi_metric.py`` of github.com/sunnweiwei/OdysSim (Apache-2.0), whose definitions these follow.
"""

from __future__ import annotations

from ._gap_common import (CUT_POINTS, MATCHED_STATISTICS, MAX_CATEGORIES, MIN_POOLED_RUNS, difficulty_bins,
                          matched_statistics_for, pooled_difficulty)
from ._gap_eval import eval_score, eval_sheet_scores, eval_unit_scores, eval_unit_scores_codes, rescale_unit
from ._gap_matched import matched_distribution_between, matched_distribution_stats
from ._gap_outcome import outcome_ece, outcome_ece_between, success_rate_gap, success_rate_gap_between

__all__ = ["CUT_POINTS", "MIN_POOLED_RUNS", "MAX_CATEGORIES", "difficulty_bins", "pooled_difficulty",
           "rescale_unit", "eval_unit_scores", "eval_unit_scores_codes", "eval_sheet_scores", "eval_score",
           "outcome_ece", "outcome_ece_between", "success_rate_gap", "success_rate_gap_between",
           "matched_distribution_stats", "matched_distribution_between", "matched_statistics_for",
           "MATCHED_STATISTICS"]
