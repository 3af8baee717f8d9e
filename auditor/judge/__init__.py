"""Running judges and simulator surveys: configs as data, structured replies, resumable async runs.

A judge config (YAML) names a model behind any OpenAI-compatible endpoint, a Jinja2 prompt template, a rubric and
decoding settings; :func:`load_judge` validates it and computes its hash, :func:`run_judge` runs it over the
store's conversations and stores one signal per dimension, sample and conversation (or a failed signal with the
raw reply and the reason). See ``examples/judges/`` and the README's "Judges" section.
"""

from ._call import FatalEndpointError, ItemResult, backoff_delay, retry_after_seconds
from ._config import DEFAULT_BASE_URL, Judge, JudgeConfig, load_judge
from ._cost import cost_usd
from ._prompt import PromptRenderer, transcript
from ._response import answers_to_rows, response_model_for
from ._runner import Progress, RunResult, run_judge, run_judge_async

__all__ = ["DEFAULT_BASE_URL", "FatalEndpointError", "ItemResult", "Judge", "JudgeConfig", "Progress",
           "PromptRenderer", "RunResult", "answers_to_rows", "backoff_delay", "cost_usd", "load_judge",
           "response_model_for", "retry_after_seconds", "run_judge", "run_judge_async", "transcript"]
