#!/usr/bin/env python3
"""Train scikit-learn's DecisionTreeClassifier on exactly the split and hyper-parameters that
`mimic train` used, and add its scores and fit time to each model report.

usage: sklearn_compare.py MODELS_DIR DATASET_DIR...

For each MODELS_DIR/<kind>.report.json (slice, placement, preempt) it rebuilds the same rows (the
Parquet tables, the slice budgets, the placement rows with a choice, the per-phase time split,
the seeded subsample), fits sklearn with the same max_depth, min_samples_split,
min_samples_leaf, criterion and class weights, and writes accuracy, balanced accuracy and
macro-F1 into the report's "sklearn" section (atomically) and prints a comparison line.
"""
import json
import os
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.tree import DecisionTreeClassifier

SLICE_CLASSES_US = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000]
MASK = (1 << 64) - 1


def slice_class(ran_ns):
    """The smallest budget that covers the stint (ran_ns <= slice), the last class beyond it."""
    edges = np.array(SLICE_CLASSES_US, dtype=np.uint64) * 1000
    return np.minimum(np.searchsorted(edges, ran_ns, side="left"), len(edges) - 1)


def datasets(paths):
    out = []
    for p in paths:
        if os.path.exists(os.path.join(p, "slice.parquet")) or os.path.exists(os.path.join(p, "placement.parquet")):
            out.append(p)
        else:
            out.extend(sorted(os.path.join(p, d) for d in os.listdir(p)
                              if os.path.exists(os.path.join(p, d, "slice.parquet"))))
    return out


def splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def load(kind, dirs, features, slice_rows, placement_rows):
    xs, ys, groups, ts = [], [], [], []
    for d in dirs:
        t = pq.read_table(os.path.join(d, f"{kind}.parquet")).to_pydict()
        x = np.column_stack([np.asarray(t[f], dtype=np.float32) for f in features]) if t["run"] else np.zeros((0, len(features)), np.float32)
        if kind == "slice":
            y = slice_class(np.asarray(t["ran_ns"], dtype=np.uint64))
            keep = np.ones(len(y), bool) if slice_rows == "all" else ~np.asarray(t["voluntary"], bool)
        elif kind == "placement":
            y = np.asarray(t["placement"], dtype=np.int64)
            keep = np.ones(len(y), bool) if placement_rows == "all" else np.asarray(t["had_choice"], bool)
        else:
            y = np.asarray(t["preempted"], dtype=np.int64)
            keep = np.ones(len(y), bool)
        xs.append(x[keep]); ys.append(y[keep])
        groups += [(r, p) for r, p, k in zip(t["run"], t["phase"], keep) if k]
        ts.append(np.asarray(t["ts_ns"], dtype=np.uint64)[keep])
    return np.vstack(xs), np.concatenate(ys), groups, np.concatenate(ts)


SPLIT_BLOCKS = 20


def split(runs, ts, test_frac, max_train, seed):
    """The same split as mimic's (src/lab/train/data.rs): 20 time blocks per phase of each run
    (`runs` holds (run, phase) pairs), k evenly spaced ones are the test set; then a seeded
    subsample of the training rows if too many."""
    spans = {}
    for r, t in zip(runs, ts):
        lo, hi = spans.get(r, (int(t), int(t)))
        spans[r] = (min(lo, int(t)), max(hi, int(t)))
    k = int(round(SPLIT_BLOCKS * test_frac))
    train, test = [], []
    for i, (r, t) in enumerate(zip(runs, ts)):
        lo, hi = spans[r]
        width = max((hi - lo) // SPLIT_BLOCKS, 1)
        b = min((int(t) - lo) // width, SPLIT_BLOCKS - 1)
        is_test = (b + 1) * k // SPLIT_BLOCKS > b * k // SPLIT_BLOCKS
        (test if is_test else train).append(i)
    if len(train) > max_train:
        state = seed
        for j in range(max_train):
            state, v = splitmix(state)
            x = j + v % (len(train) - j)
            train[j], train[x] = train[x], train[j]
        train = sorted(train[:max_train])
    return np.array(train, dtype=np.int64), np.array(test, dtype=np.int64)


def class_weight(params, y):
    """mimic's class weights: the balanced ones, w_c = n / (classes × n_c), raised to the power
    `class_weight_power` (1: scikit-learn's "balanced", 0: none)."""
    power = params.get("class_weight_power", 1.0 if params.get("balanced") else 0.0)
    if power == 0:
        return None
    classes, counts = np.unique(y, return_counts=True)
    return {int(c): (len(y) / (len(classes) * n)) ** power for c, n in zip(classes, counts)}


def write_atomic(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    models, dirs = sys.argv[1], datasets(sys.argv[2:])
    for kind in ("slice", "placement", "preempt"):
        rp = os.path.join(models, f"{kind}.report.json")
        if not os.path.exists(rp):
            continue
        rep = json.load(open(rp))
        model = json.load(open(os.path.join(models, f"{kind}.model")))
        meta = model["meta"]
        p = rep["params"]
        x, y, runs, ts = load(kind, dirs, model["features"], meta.get("slice_rows", "all"), meta.get("placement_rows", "choice"))
        tr, te = split(runs, ts, meta["test_frac"], 1_000_000, meta["seed"])
        assert len(tr) == rep["rows"]["train"] and len(te) == rep["rows"]["test"], \
            f"{kind}: split differs from mimic's ({len(tr)}/{len(te)} vs {rep['rows']['train']}/{rep['rows']['test']})"
        clf = DecisionTreeClassifier(max_depth=p["max_depth"], min_samples_split=max(2, int(p["min_samples_split"])),
                                     min_samples_leaf=max(1, int(p["min_samples_leaf"])),
                                     criterion="entropy" if p["entropy"] else "gini",
                                     class_weight=class_weight(p, y[tr]), random_state=0)
        t0 = time.perf_counter()
        clf.fit(x[tr], y[tr])
        fit_s = time.perf_counter() - t0
        pred = clf.predict(x[te])
        acc = float((pred == y[te]).mean()) if len(te) else 0.0
        bal = float(balanced_accuracy_score(y[te], pred)) if len(te) else 0.0
        f1 = float(f1_score(y[te], pred, average="macro")) if len(te) else 0.0
        ours = rep["test"]
        rep["sklearn"] = {"test_accuracy": acc, "test_balanced_accuracy": bal, "test_macro_f1": f1, "fit_s": fit_s,
                          "depth": int(clf.get_depth()), "nodes": int(clf.tree_.node_count),
                          "version": __import__("sklearn").__version__,
                          "accuracy_gap_points": (ours["accuracy"] - acc) * 100,
                          "balanced_accuracy_gap_points": (ours["balanced_accuracy"] - bal) * 100}
        write_atomic(rp, json.dumps(rep, indent=2))
        print(f"{kind:<10} mimic/linfa: accuracy {ours['accuracy']*100:.1f}%, balanced {ours['balanced_accuracy']*100:.1f}%, "
              f"macro-F1 {ours['macro_f1']*100:.1f}%, {rep['tree']['nodes']} nodes | scikit-learn: accuracy {acc*100:.1f}%, "
              f"balanced {bal*100:.1f}%, macro-F1 {f1*100:.1f}%, {clf.tree_.node_count} nodes")


if __name__ == "__main__":
    main()
