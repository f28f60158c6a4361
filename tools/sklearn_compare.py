#!/usr/bin/env python3
"""Train scikit-learn's DecisionTreeClassifier on exactly the split and hyper-parameters that
`mimic train` used, and add its accuracy and fit time to each model report.

usage: sklearn_compare.py MODELS_DIR DATASET_DIR...

For each MODELS_DIR/<kind>.report.json it rebuilds the same rows (the Parquet tables, the slice
buckets, the per-run time split, the seeded subsample), fits sklearn with the same max_depth,
min_samples_split, min_samples_leaf and criterion, and writes the result into the report's
"sklearn" section (atomically) and prints a comparison line.
"""
import json
import os
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.tree import DecisionTreeClassifier

FEATURES = ["weight", "exec_runtime_us", "last_burst_us", "avg_burst_us", "wake_freq_hz",
            "voluntary_ratio", "nr_cpus_allowed", "nr_runnable", "idle_cpus", "prev_cpu_idle",
            "comm_class"]
SLICE_CLASSES_US = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 20000]
MASK = (1 << 64) - 1


def slice_class(ran_ns):
    us = ran_ns // 1000
    idx = np.searchsorted(np.array(SLICE_CLASSES_US), us, side="right") - 1
    return np.maximum(idx, 0)


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


def load(kind, dirs, slice_rows):
    xs, ys, runs, ts = [], [], [], []
    for d in dirs:
        t = pq.read_table(os.path.join(d, f"{kind}.parquet")).to_pydict()
        x = np.column_stack([np.asarray(t[f], dtype=np.float32) for f in FEATURES]) if t["run"] else np.zeros((0, len(FEATURES)), np.float32)
        if kind == "slice":
            y = slice_class(np.asarray(t["ran_ns"], dtype=np.uint64))
            keep = np.ones(len(y), bool) if slice_rows == "all" else ~np.asarray(t["voluntary"], bool)
        else:
            y = np.asarray(t["placement"], dtype=np.int64)
            keep = np.ones(len(y), bool)
        xs.append(x[keep]); ys.append(y[keep])
        runs += [r for r, k in zip(t["run"], keep) if k]
        ts.append(np.asarray(t["ts_ns"], dtype=np.uint64)[keep])
    return np.vstack(xs), np.concatenate(ys), runs, np.concatenate(ts)


SPLIT_BLOCKS = 20


def split(runs, ts, test_frac, max_train, seed):
    """The same split as mimic's (src/lab/train/data.rs): 20 time blocks per run, k evenly
    spaced ones are the test set; then a seeded subsample of the training rows if too many."""
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
    for kind in ("slice", "placement"):
        rp = os.path.join(models, f"{kind}.report.json")
        if not os.path.exists(rp):
            continue
        rep = json.load(open(rp))
        meta = json.load(open(os.path.join(models, f"{kind}.model")))["meta"]
        p = rep["params"]
        x, y, runs, ts = load(kind, dirs, meta.get("slice_rows", "all"))
        tr, te = split(runs, ts, meta["test_frac"], 1_000_000, meta["seed"])
        assert len(tr) == rep["rows"]["train"] and len(te) == rep["rows"]["test"], \
            f"{kind}: split differs from mimic's ({len(tr)}/{len(te)} vs {rep['rows']['train']}/{rep['rows']['test']})"
        clf = DecisionTreeClassifier(max_depth=p["max_depth"], min_samples_split=max(2, int(p["min_samples_split"])),
                                     min_samples_leaf=max(1, int(p["min_samples_leaf"])),
                                     criterion="entropy" if p["entropy"] else "gini", random_state=0)
        t0 = time.perf_counter()
        clf.fit(x[tr], y[tr])
        fit_s = time.perf_counter() - t0
        acc = float((clf.predict(x[te]) == y[te]).mean()) if len(te) else 0.0
        ours = rep["test"]["accuracy"]
        rep["sklearn"] = {"test_accuracy": acc, "fit_s": fit_s, "depth": int(clf.get_depth()),
                          "nodes": int(clf.tree_.node_count), "version": __import__("sklearn").__version__,
                          "accuracy_gap_points": (ours - acc) * 100}
        write_atomic(rp, json.dumps(rep, indent=2))
        print(f"{kind:<10} mimic/linfa test accuracy {ours*100:.2f}% (fit {rep['timing']['fit_s']:.2f}s) | "
              f"scikit-learn {acc*100:.2f}% (fit {fit_s:.2f}s) | gap {(ours-acc)*100:+.2f} points")


if __name__ == "__main__":
    main()
