#!/usr/bin/env python3
"""How far a *regression* on the stint's length gets toward the learning issue's slice goal (a
prediction within a factor of 2 of the stint for >= 75% of the test stints of 100 us or more),
on exactly the split `mimic train` used for the slice model.

usage: slice_regression.py MODELS_DIR DATASET_DIR...
       (tools/sklearn-compare.sh's venv has what it needs:
        ~/.cache/scx_mimic/sklearn-venv/bin/python tools/slice_regression.py models datasets)

Prints, for the test stints >= 100 us, the share predicted within a factor of 2 by:
  - the last stint, and the average stint, as they are (no learning);
  - a regression tree on log2(stint) (MSE), then the same tree with each leaf's value moved to
    where most of its training stints fall within a factor of 2 (the best constant for that
    score);
  - a gradient-boosted regression of the median of log2(stint);
  - a gradient-boosted classifier over half-octave bins, predicting the value with the most
    probability within a factor of 2 (the Bayes choice for this score, given its probabilities),
    split by how the stint ended.
The README quotes these figures (section "What is weak, and what was learned"). ~5 min on 1 core.
"""
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.tree import DecisionTreeRegressor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sklearn_compare as sc  # noqa: E402  (the loader and the split, shared with the comparison)

MIN_STINT_US = 100


def window_best(values, lo, hi, step=0.05):
    """The centre c (log2 units) that puts the most of `values` within [c - 1, c + 1]."""
    grid = np.arange(lo, hi, step)
    s = np.sort(values)
    count = np.searchsorted(s, grid + 1, "right") - np.searchsorted(s, grid - 1, "left")
    return grid[np.argmax(count)]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    models, dirs = sys.argv[1], sc.datasets(sys.argv[2:])
    model = json.load(open(os.path.join(models, "slice.model")))
    meta, features = model["meta"], model["features"]
    x, _, runs, ts = sc.load("slice", dirs, features, meta.get("slice_rows", "all"), "choice")
    tables = [pq.read_table(os.path.join(d, "slice.parquet"), columns=["ran_ns", "voluntary"]).to_pydict() for d in dirs]
    stint_us = np.concatenate([np.asarray(t["ran_ns"], dtype=np.float64) for t in tables]) / 1000.0
    blocked = np.concatenate([np.asarray(t["voluntary"], bool) for t in tables])
    assert meta.get("slice_rows", "all") == "all" and len(stint_us) == len(x), "rows differ from the loader's"
    tr, te = sc.split(runs, ts, meta["test_frac"], 1_000_000, meta["seed"])
    ly = np.log2(np.maximum(stint_us, 1.0))
    scored = stint_us[te] >= MIN_STINT_US

    def within2(pred_us, sel=None):
        m = scored if sel is None else scored & sel
        r = pred_us[m] / stint_us[te][m]
        return float(((r >= 0.5) & (r <= 2.0)).mean())

    print(f"{len(tr)} train / {len(te)} test rows; {int(scored.sum())} test stints >= {MIN_STINT_US} us")
    for name in ("last_burst_us", "avg_burst_us"):
        print(f"{name} as the prediction: {within2(np.maximum(x[te][:, features.index(name)], 1.0)):.1%}")
    for leaf in (20, 100):
        tree = DecisionTreeRegressor(max_depth=12, min_samples_leaf=leaf, random_state=0).fit(x[tr], ly[tr])
        plain = within2(2 ** tree.predict(x[te]))
        leaves_tr, leaves_te = tree.apply(x[tr]), tree.apply(x[te])
        best = {leaf_id: window_best(ly[tr][leaves_tr == leaf_id], ly.min() - 1, ly.max() + 1)
                for leaf_id in np.unique(leaves_tr)}
        moved = within2(2 ** np.array([best[i] for i in leaves_te]))
        print(f"regression tree, depth 12, leaves >= {leaf}: {plain:.1%}; leaf values moved to the best window: {moved:.1%}"
              f" ({tree.tree_.node_count} nodes)")
    hgb = HistGradientBoostingRegressor(loss="absolute_error", max_iter=200, random_state=0).fit(x[tr], ly[tr])
    print(f"gradient-boosted regression of the median: {within2(2 ** hgb.predict(x[te])):.1%}")
    bins = np.clip(np.floor(ly * 2).astype(int), 8, 30)  # half octaves, 16 us .. 32 ms
    clf = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0).fit(x[tr], bins[tr])
    centres = (clf.classes_ + 0.5) / 2
    grid = np.arange(centres.min() - 1, centres.max() + 1, 0.25)
    mass = clf.predict_proba(x[te]) @ (np.abs(centres[None, :] - grid[:, None]) <= 1).T.astype(float)
    pred = 2 ** grid[np.argmax(mass, 1)]
    print(f"gradient-boosted classifier, most probability within a factor of 2: {within2(pred):.1%} "
          f"(blocked {within2(pred, blocked[te]):.1%}, preempted {within2(pred, ~blocked[te]):.1%})")


if __name__ == "__main__":
    main()
