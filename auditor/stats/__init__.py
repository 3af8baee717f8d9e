"""Statistics over arrays and long DataFrames: agreement, bias, calibration. No store access here."""

from ._bootstrap import BootResult, bootstrap_codes, bootstrap_sums, confidence_interval
from ._registry import get as get_statistic
from ._registry import names as statistic_names
from ._result import StatRow
from .multirater import multirater_statistics
from .paired import paired_statistics

__all__ = ["BootResult", "StatRow", "bootstrap_codes", "bootstrap_sums", "confidence_interval", "get_statistic",
           "multirater_statistics", "paired_statistics", "statistic_names"]
