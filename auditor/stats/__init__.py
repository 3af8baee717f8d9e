"""Statistics over arrays and long DataFrames: agreement, bias, calibration. No store access here."""

from ._bootstrap import BootResult, bootstrap_codes, bootstrap_sums, confidence_interval

__all__ = ["BootResult", "bootstrap_codes", "bootstrap_sums", "confidence_interval"]
