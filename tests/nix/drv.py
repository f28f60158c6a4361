#!/usr/bin/env python3
"""Helpers for vm/nix-check.sh's deep stage: read what an evaluated derivation runs, and mirror
a store path into a work folder. Reads JSON from `nix derivation show` on stdin.

  drv.py phases DIR       write DIR/buildPhase and DIR/checkPhase (the shell text the builder
                          evaluates), DIR/src (the source store path); fail if the derivation
                          has hooks around those phases (they would not be run natively)
  drv.py cargo-lines      print every cargo command line of buildPhase/checkPhase, one a line
  drv.py locked           (any number of derivations) fail if a cargo command line lacks
                          --locked; print how many lines there are
  drv.py mirror SRC DST CHECKOUT
                          make DST hold exactly SRC's files (content compared: an unchanged file
                          keeps its mtime, so cargo rebuilds only what changed), except files the
                          checkout's .gitignore names (those the build generates in the source
                          folder: build.rs rewrites them itself)
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys

HOOKS = ("preBuild", "postBuild", "preCheck", "postCheck")


def the_drv():
    d = json.load(sys.stdin)
    if len(d) != 1:
        sys.exit(f"expected one derivation, got {len(d)}")
    (path, drv), = d.items()
    return path, drv


def phases(out):
    path, drv = the_drv()
    env = drv["env"]
    errs = []
    for k in ("buildPhase", "checkPhase", "src"):
        if not env.get(k):
            errs.append(f"{path}: no {k}")
    if env.get("doCheck") != "1":
        errs.append(f"{path}: doCheck is off (the check phase would not run)")
    for k in HOOKS:
        if env.get(k, "").strip():
            errs.append(f"{path}: has {k}, which this check does not run")
    if not cargo_lines_of(env):
        errs.append(f"{path}: no cargo build/test command line in its phases")
    if errs:
        sys.exit("; ".join(errs))
    os.makedirs(out, exist_ok=True)
    for k in ("buildPhase", "checkPhase", "src"):
        with open(os.path.join(out, k), "w") as f:
            f.write(env[k])


def cargo_lines_of(env):
    return [line.strip() for k in ("buildPhase", "checkPhase") for line in env.get(k, "").splitlines()
            if re.match(r"\s*cargo(WithProfile)?\s+(build|check|test)\b", line)]


def unlocked(env):
    """The cargo command lines without --locked: they may build with other versions than Cargo.lock's."""
    return [l for l in cargo_lines_of(env) if "--locked" not in l.split() and "--frozen" not in l.split()]


def cargo_lines():
    _, drv = the_drv()
    for line in cargo_lines_of(drv["env"]):
        print(line)


def locked():
    errs, n = [], 0
    for path, drv in json.load(sys.stdin).items():
        lines = cargo_lines_of(drv["env"])
        if not lines:
            errs.append(f"{path}: no cargo command line")
        n += len(lines)
        bad = unlocked(drv["env"])
        if bad:
            errs.append(f"{os.path.basename(path)}: cargo runs without --locked: {bad}")
    if errs:
        sys.exit("; ".join(errs))
    print(n)


def git_ignored(checkout, paths):
    if not paths:
        return set()
    try:
        r = subprocess.run(["git", "-C", checkout, "check-ignore", "--no-index", "--stdin"],
                           input="\n".join(paths) + "\n", capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {l for l in r.stdout.splitlines() if l}


def mirror(src, dst, checkout):
    want = set()
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        for name in files:
            want.add(os.path.normpath(os.path.join(rel, name)))
        for name in dirs:
            os.makedirs(os.path.join(dst, rel, name), exist_ok=True)
    os.makedirs(dst, exist_ok=True)
    changed = 0
    for rel in sorted(want):
        s, t = os.path.join(src, rel), os.path.join(dst, rel)
        if os.path.islink(s):
            sys.exit(f"{rel}: symlink in the source (not handled)")
        if os.path.isfile(t) and not os.path.islink(t):
            with open(s, "rb") as a, open(t, "rb") as b:
                if a.read() == b.read():
                    continue
            os.chmod(t, 0o644)
        shutil.copyfile(s, t)  # new mtime: cargo sees the change
        mode = os.stat(s).st_mode
        os.chmod(t, 0o755 if mode & stat.S_IXUSR else 0o644)
        changed += 1
    extra = []
    for root, dirs, files in os.walk(dst):
        rel = os.path.relpath(root, dst)
        extra += [r for r in (os.path.normpath(os.path.join(rel, n)) for n in files) if r not in want]
    ignored = git_ignored(checkout, extra)
    removed = 0
    for root, dirs, files in os.walk(dst, topdown=False):
        rel = os.path.relpath(root, dst)
        for name in files:
            r = os.path.normpath(os.path.join(rel, name))
            if r not in want and r not in ignored:
                os.remove(os.path.join(root, name))
                removed += 1
        for name in dirs:
            p = os.path.join(root, name)
            if not os.path.exists(os.path.join(src, rel, name)) and not os.listdir(p):
                os.rmdir(p)
    print(f"{changed} files written, {removed} removed")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "phases":
        phases(sys.argv[2])
    elif cmd == "cargo-lines":
        cargo_lines()
    elif cmd == "locked":
        locked()
    elif cmd == "mirror":
        mirror(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
