"""The calibration models, as plain parameter dicts (what ``--save`` writes) and one ``predict`` for all of them.

Every model maps a feature matrix ``X`` (rows = (conversation, human) pairs) to a predicted human answer:

- ``ordinal``: proportional-odds (cumulative logit) regression, P(y <= k) = sigmoid(theta_k - x.beta), with an L2
  penalty on beta (not on the thresholds); objective 0.5 |beta|^2 + C * negative log-likelihood (scikit-learn's
  convention for C). Fitted with scipy's L-BFGS-B on the analytic gradient; with a large C it is the unpenalised
  model of ``statsmodels.miscmodels.ordinal_model.OrderedModel`` (checked in the tests).
- ``multinomial``: scikit-learn's L2-penalised multinomial logistic regression.
- ``ridge``: scikit-learn's ridge regression (alpha = 1 / C) of the answer's value, clipped to the scale.
- ``isotonic``: scikit-learn's isotonic regression of the answer on one score (the judge's own score of the target
  dimension), clipped to the scale; monotone, no penalty.

The classifiers predict a distribution over the answer values seen in training; the calibrated score is its
expected value (the value that minimises squared error). Score features are standardised with the training rows'
mean and standard deviation; option probabilities (already on one [0, 1] scale) and 0/1 indicators are not: on the
demo, standardising the probabilities lets the penalty amplify rarely-used options (out-of-fold Q0 RMSE 0.775
instead of 0.731 for ``ordinal``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["METHODS", "fit", "predict"]

METHODS = ("ordinal", "multinomial", "ridge", "isotonic")


def _expit(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z, dtype=float)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


def _thresholds(a: np.ndarray) -> np.ndarray:
    return np.cumsum(np.concatenate([a[:1], np.exp(a[1:])]))


def _fit_ordinal(X: np.ndarray, yi: np.ndarray, k: int, C: float) -> dict:
    from scipy.optimize import minimize

    n, p = X.shape
    freq = np.bincount(yi, minlength=k).cumsum()[:-1] / n
    t0 = np.log(np.clip(freq, 1e-3, 1 - 1e-3) / (1 - np.clip(freq, 1e-3, 1 - 1e-3)))
    t0 = np.maximum.accumulate(t0 + np.arange(k - 1) * 1e-3)
    a0 = np.concatenate([t0[:1], np.log(np.maximum(np.diff(t0), 1e-3))])
    upper_ok, lower_ok = yi < k - 1, yi > 0

    def objective(w):
        beta, a = w[:p], w[p:]
        theta = np.concatenate([[-np.inf], _thresholds(a), [np.inf]])
        eta = X @ beta
        fu, fl = _expit(theta[yi + 1] - eta), _expit(theta[yi] - eta)
        prob = np.maximum(fu - fl, 1e-300)
        du, dl = fu * (1 - fu), fl * (1 - fl)
        g_eta = (du - dl) / prob                      # d(-log prob) / d eta
        g_theta = np.zeros(k - 1)
        np.add.at(g_theta, yi[upper_ok], -(du / prob)[upper_ok])
        np.add.at(g_theta, yi[lower_ok] - 1, (dl / prob)[lower_ok])
        rev = np.cumsum(g_theta[::-1])[::-1]            # theta_j depends on a_0 and on a_m for m <= j
        g_a = np.concatenate([rev[:1], np.exp(a[1:]) * rev[1:]])
        value = 0.5 * beta @ beta - C * np.log(prob).sum()
        return value, np.concatenate([beta + C * (X.T @ g_eta), C * g_a])

    res = minimize(objective, np.concatenate([np.zeros(p), a0]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 2000, "gtol": 1e-8})
    return {"beta": res.x[:p].tolist(), "thresholds": _thresholds(res.x[p:]).tolist(), "converged": bool(res.success)}


def fit(method: str, X: np.ndarray, y: np.ndarray, *, C: float, scaled: np.ndarray, value_range: tuple) -> dict:
    """Fit ``method`` on rows ``X`` (float matrix) and answers ``y`` (values). ``scaled``: which columns are
    standardised. Returns the model as a JSON-able dict that :func:`predict` reads."""
    mean = np.where(scaled, X.mean(axis=0), 0.0)
    sd = np.where(scaled, X.std(axis=0), 1.0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mean) / sd
    classes = np.unique(y)
    model = {"method": method, "C": float(C), "mean": mean.tolist(), "sd": sd.tolist(),
             "classes": classes.tolist(), "value_range": [float(value_range[0]), float(value_range[1])]}
    if method in ("ordinal", "multinomial") and len(classes) == 1:
        model["constant"] = float(classes[0])
        return model
    if method == "ordinal":
        model.update(_fit_ordinal(Z, np.searchsorted(classes, y), len(classes), C))
    elif method == "multinomial":
        from sklearn.linear_model import LogisticRegression

        m = LogisticRegression(C=C, max_iter=5000).fit(Z, y)
        coef, icpt = m.coef_, m.intercept_
        if len(classes) == 2:          # scikit-learn keeps one row for two classes: the second class's logit
            coef, icpt = np.vstack([np.zeros_like(coef[0]), coef[0]]), np.array([0.0, icpt[0]])
        model.update(coef=coef.tolist(), intercept=icpt.tolist())
    elif method == "ridge":
        from sklearn.linear_model import Ridge

        m = Ridge(alpha=1.0 / C).fit(Z, y)
        model.update(coef=m.coef_.tolist(), intercept=float(m.intercept_))
    elif method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        m = IsotonicRegression(out_of_bounds="clip").fit(Z[:, 0], y)
        model.update(x=m.X_thresholds_.tolist(), y=m.y_thresholds_.tolist())
    else:
        raise ValueError(f"unknown method {method!r}")
    return model


def predict(model: dict, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(probabilities over ``model["classes"]`` or None, predicted values) for rows ``X``."""
    classes = np.asarray(model["classes"], dtype=float)
    if "constant" in model:
        return np.ones((len(X), 1)), np.full(len(X), model["constant"])
    Z = (X - np.asarray(model["mean"])) / np.asarray(model["sd"])
    lo, hi = model["value_range"]
    method = model["method"]
    if method == "ordinal":
        cum = _expit(np.asarray(model["thresholds"])[None, :] - (Z @ np.asarray(model["beta"]))[:, None])
        probs = np.diff(np.hstack([np.zeros((len(Z), 1)), cum, np.ones((len(Z), 1))]), axis=1)
        probs = np.clip(probs, 0.0, None)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs, probs @ classes
    if method == "multinomial":
        logits = Z @ np.asarray(model["coef"]).T + np.asarray(model["intercept"])
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        return probs, probs @ classes
    if method == "ridge":
        return None, np.clip(Z @ np.asarray(model["coef"]) + model["intercept"], lo, hi)
    if method == "isotonic":
        return None, np.clip(np.interp(Z[:, 0], model["x"], model["y"]), lo, hi)
    raise ValueError(f"unknown method {method!r}")
