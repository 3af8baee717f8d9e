"""Calibrated judges: a map from an LLM judge's outputs to the humans' answers, cross-fitted so that the audit of
the calibrated rater is honest (README "Calibrating a judge")."""

from ._apply import ApplyResult, apply_model
from ._run import CalibrateOptions, CalibrationResult, calibrate

__all__ = ["CalibrateOptions", "CalibrationResult", "calibrate", "apply_model", "ApplyResult"]
