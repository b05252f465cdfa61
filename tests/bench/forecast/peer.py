"""The statsmodels Holt-Winters peer of `make bench-forecast`.

Reads a regularised series (one value per line), fits ExponentialSmoothing with an
additive season on the first `split` points, once with no trend and once with a
damped additive trend, keeps the lower training AIC, then forecasts `h` steps ahead
from every origin t = split-1 .. n-1-h with the fitted parameters fixed (the states
are filtered through the test part, nothing is refitted). Prints JSON.

usage: /usr/bin/python3 peer.py SERIES_FILE SEASON HORIZON SPLIT
"""
import json
import sys
import time
import warnings

import numpy as np
from statsmodels.tsa.holtwinters import ExponentialSmoothing


def fit(y, season, damped):
    model = ExponentialSmoothing(
        y,
        trend="add" if damped else None,
        damped_trend=damped,
        seasonal="add",
        seasonal_periods=season,
        initialization_method="estimated",
    )
    return model.fit()


def rolling(y, season, h, split, res, damped):
    """h-step forecasts from every origin with the training fit's parameters."""
    p = res.params
    kwargs = dict(
        trend="add" if damped else None,
        damped_trend=damped,
        seasonal="add",
        seasonal_periods=season,
        initialization_method="known",
        initial_level=p["initial_level"],
        initial_seasonal=p["initial_seasons"],
    )
    if damped:
        kwargs["initial_trend"] = p["initial_trend"]
    fixed = dict(
        smoothing_level=p["smoothing_level"],
        smoothing_seasonal=p["smoothing_seasonal"],
        optimized=False,
    )
    if damped:
        fixed["smoothing_trend"] = p["smoothing_trend"]
        fixed["damping_trend"] = p["damping_trend"]
    full = ExponentialSmoothing(y, **kwargs).fit(**fixed)
    level = np.asarray(full.level)
    season_state = np.asarray(full.season)
    trend = np.asarray(full.trend) if damped else np.zeros_like(level)
    phi = p["damping_trend"] if damped else 0.0
    damp_sum = sum(phi ** i for i in range(1, h + 1)) if damped else 0.0
    origins = np.arange(split - 1, len(y) - h)
    # The season of step t+h was last updated at t+h-season (h <= season).
    out = level[origins] + damp_sum * trend[origins] + season_state[origins + h - season]
    # Check the hand-rolled h-step formula against statsmodels' own forecast at the
    # first origin (the end of the training part).
    own = res.forecast(h)[h - 1]
    if not np.isclose(out[0], own, rtol=1e-6, atol=1e-6 * (1 + abs(own))):
        raise SystemExit(f"peer: rolling forecast {out[0]} differs from statsmodels' forecast {own}")
    return out


def main():
    path, season, h, split = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    y = np.loadtxt(path, dtype=float)
    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {damped: fit(y[:split], season, damped) for damped in (False, True)}
        damped = fits[True].aic < fits[False].aic
        res = fits[damped]
        forecasts = rolling(y, season, h, split, res, damped)
    cpu = time.process_time() - start
    json.dump({
        "trend": "damped" if damped else "none",
        "aic": {"none": fits[False].aic, "damped": fits[True].aic},
        "params": {k: float(v) for k, v in res.params.items() if np.isscalar(v) and np.isfinite(v)},
        "cpuSeconds": cpu,
        "forecasts": [float(v) for v in forecasts],
    }, sys.stdout)


if __name__ == "__main__":
    main()
