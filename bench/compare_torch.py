#!/usr/bin/env python3
"""sharedvis against PyTorch (2.x from a virtual environment, and Debian's 1.13 where present)
on the same CPU, in the same run: resnet50 at 224x224 (portable random weights: the speed
does not depend on the values), layer4 with average pooling.

  python3 bench/compare_torch.py [--cli build/sharedvis] [--sv-python build/pyenv/bin/python]
          [--torch-venv /opt/torchvenv] [--rounds 3] [--warm-reps 2] [--json out.json]

The driver needs only the standard library; the work runs in child processes, one per
(side, workload, round), so each process's peak RSS (ru_maxrss) is that workload's:
  sharedvis cold  the CLI, a fresh process: `sharedvis info|features|vjp|ig|explain`
  sharedvis warm  the Python package in a fresh process (bench/sv_side.py): load the model,
                  call once ("first"), then --warm-reps more calls ("warm")
  PyTorch         bench/torch_side.py, the same pattern, with each PyTorch found
Workloads (defaults as in issue #15):
  load      sharedvis: `sharedvis info` (process start, reading and checking the model file) /
            sv.load_model; PyTorch: torchvision resnet50() + load_state_dict from the same file
  features  N=8 images, the pooled layer4 features (PyTorch under no_grad)
  vjp       one image, K=16 cotangents at the pooled layer4 features (sharedvis: one forward,
            K-stacked backward, --max-batch K); PyTorch: a loop of K autograd.grad calls and
            is_grads_batched (vmap), each in its own process; the faster counts
  ig        Integrated Gradients, 32 Gauss-Legendre steps, 2 images, K=4 cotangents, zero
            baseline, in passes of --ig-points interpolation points (16: the CLI's default
            --max-batch); PyTorch: its loop over the steps in passes of the same points, the K
            cotangents by a loop or by is_grads_batched, the faster counts
  explain   `sharedvis explain --out D` with every default (the bundled Fashion-MNIST CNN and
            synthetic neurons: the whole method, readouts to gallery); sharedvis alone, PyTorch
            has no equivalent of the pipeline (its backprop stage is the vjp/ig rows above)
Figures (over rounds; each side's processes alternate in order from round to round):
  cold       sharedvis: the CLI command's wall time (process start, load, compute, writing
             the .npy); PyTorch: load + first call in a fresh process (python start and
             `import torch` excluded, printed apart): a comparison that favours PyTorch
  cold comp  sharedvis: command − `sharedvis info` of the same round; PyTorch: its first call
  warm       in-process calls after the first, both sides (sharedvis through the package)
  min and median over all samples; CPU-s: the process CPU-seconds (user + sys, all threads)
  of the same calls; ld: the 1-minute load average read as each process starts and ends,
  min–max. With --quiet-below L each process first waits for a load average under L: the
  processes are short, so their own threads then keep the average under 1 while they run.
  Peak RSS: ru_maxrss of the process (MiB); the `load` rows' processes are each side's
  baseline (interpreter, libraries and model without compute).
Results are checked against each other (first round's outputs) before any figure is printed.
Ratio = PyTorch / sharedvis (> 1: sharedvis faster). Timings on a shared machine are not
figures: take them at load < 1 before the run; during it the load average counts the run's
own threads (the script warns when it reached that count + 1: other work was running).

Environments (found, or made with --make-envs; both are skipped when absent otherwise):
  PyTorch 2.x   --torch-venv or $SHAREDVIS_TORCH_VENV (default /opt/torchvenv); --make-envs
                creates it with `python3 -m venv` + `pip install torch torchvision` (CPU wheels)
  PyTorch 1.13  Debian's python3-torch: /usr/bin/python3 if it imports torch and torchvision
  --torch PY    (repeatable) replaces both with the given Python interpreters
  sharedvis     --sv-python or $SHAREDVIS_PYTHON (default build/pyenv/bin/python, made by
                ./test.sh); --make-envs creates build/pyenv with `pip install .`
Threads: every core of the process's affinity on both sides (torch.set_num_threads;
sharedvis's default). OMP_WAIT_POLICY is passed through: under load also try =passive."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench")
WORKLOADS = ["load", "features", "vjp", "ig", "explain"]
TORCH_METHODS = {"load": ["load"], "features": ["features"], "vjp": ["vjp_loop", "vjp_batched"],
                 "ig": ["ig_loop", "ig_batched"], "explain": []}


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def wait_quiet(below, most):
    """With --quiet-below: waits (at most `most` seconds) until the 1-minute load average is
    under `below`, so that a short process's own threads keep the average under 1 while it
    runs. Returns the seconds waited."""
    t0 = time.monotonic()
    while below and loadavg() >= below and time.monotonic() - t0 < most:
        time.sleep(2)
    return time.monotonic() - t0


def measured(cmd, quiet=(0, 0)):
    """Runs cmd (after wait_quiet); returns its wall time, CPU-seconds, peak RSS (MiB), stdout,
    and the 1-minute load average before it started and when it ended."""
    wait_quiet(*quiet)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        load = loadavg()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, etext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{text[-3000:]}{etext[-3000:]}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024, "out": text, "load": load,
            "load_end": loadavg()}


def imports(py, modules):
    try:
        return subprocess.run([py, "-c", f"import {modules}"], capture_output=True).returncode == 0
    except OSError:
        return False


def find_cli(explicit):
    for c in [explicit, os.path.join(ROOT, "build", "sharedvis")]:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    sys.exit("sharedvis binary not found: build it (cmake --build build) or pass --cli")


def find_sv_python(a):
    py = a.sv_python or os.environ.get("SHAREDVIS_PYTHON") or os.path.join(ROOT, "build", "pyenv", "bin", "python")
    if imports(py, "sharedvis, numpy"):
        return py
    if not a.make_envs:
        sys.exit(f"{py} cannot import sharedvis: pass --sv-python, or --make-envs to build {py}")
    venv = os.path.dirname(os.path.dirname(py))
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    env = dict(os.environ, CMAKE_ARGS=os.environ.get("CMAKE_ARGS", "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"))
    subprocess.run([py, "-m", "pip", "install", "-q", ROOT], check=True, env=env)
    return py


def find_torches(a):
    if a.torch:
        return a.torch
    venv = a.torch_venv or os.environ.get("SHAREDVIS_TORCH_VENV") or "/opt/torchvenv"
    py = os.path.join(venv, "bin", "python")
    found = []
    if imports(py, "torch, torchvision, numpy"):
        found.append(py)
    elif a.make_envs:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "torch", "torchvision", "numpy", "--index-url",
                        "https://download.pytorch.org/whl/cpu"], check=True)
        found.append(py)
    else:
        print(f"note: no PyTorch in {venv} (pass --torch-venv, or --make-envs to create it)")
    if imports("/usr/bin/python3", "torch, torchvision, numpy"):
        found.append("/usr/bin/python3")
    if not found:
        sys.exit("no PyTorch found")
    return found


def torch_version(py):
    r = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return "torch " + r.stdout.strip()


class Bench:
    def __init__(self, a, cli, sv_py, torches, tmp):
        self.a, self.cli, self.sv_py, self.torches, self.tmp = a, cli, sv_py, torches, tmp
        self.samples = {}  # (side, workload) -> list of sample dicts
        self.threads = len(os.sched_getaffinity(0))
        self.quiet = (a.quiet_below, a.quiet_wait)

    def add(self, side, wl, **s):
        self.samples.setdefault((side, wl), []).append(s)

    def p(self, name):
        return os.path.join(self.tmp, name)

    def cli_args(self, wl, r):
        m = ["--model", self.p("r50.safetensors"), "--device", "cpu"]
        if wl == "load":
            return ["info"] + m
        if wl == "features":
            return ["features"] + m + ["--layer", "layer4", "--input", self.p("x8.npy"), "--out", self.p("cli_f.npy")]
        if wl == "vjp":
            return ["vjp"] + m + ["--layer", "layer4", "--input", self.p("x1.npy"), "--cotangent",
                                  self.p("g16.npy"), "--out", self.p("cli_v.npy"), "--max-batch", str(self.a.k)]
        if wl == "ig":
            return ["ig"] + m + ["--layer", "layer4", "--input", self.p("x2.npy"), "--cotangent", self.p("g4.npy"),
                                 "--steps", str(self.a.ig_steps), "--max-batch", str(self.a.ig_points),
                                 "--out", self.p("cli_ig.npy")]
        return ["explain", "--out", self.p(f"explain_cli_{r}")]

    def run_cli(self, wl, r):
        s = measured([self.cli] + self.cli_args(wl, r), self.quiet)
        self.add("cli", wl, t=s["wall"], cpu=s["cpu"], rss=s["rss"], load=s["load"], load_end=s["load_end"])

    def child_common(self, tag, wl, r):
        """Arguments of a child; the first round's outputs are saved as <tag>_0.npy for check()."""
        return ["--dir", self.tmp, "--warm-reps", str(self.a.warm_reps), "--ig-points", str(self.a.ig_points)] + (
            ["--save", self.p(f"{tag}_{r}.npy")] if r == 0 and wl not in ("load", "explain") else [])

    def run_child(self, side, wl, cmd):
        s = measured(cmd, self.quiet)
        res = json.loads(s["out"].strip().splitlines()[-1])
        self.add(side, wl, res=res, cpu_total=s["cpu"], rss=s["rss"], load=s["load"], load_end=s["load_end"])

    def run_sv_py(self, wl, r):
        cmd = [self.sv_py, os.path.join(HERE, "sv_side.py"), wl] + self.child_common(f"py_{wl}", wl, r)
        if wl == "explain":
            cmd += ["--out-dir", self.p(f"explain_py_{r}")]
        self.run_child("py", wl, cmd)

    def run_torch(self, ti, method, r):
        cmd = [self.torches[ti], os.path.join(HERE, "torch_side.py"), method, "--threads", str(self.threads)]
        self.run_child(f"torch{ti}:{method}", method, cmd + self.child_common(f"t{ti}_{method}", method, r))

    def round(self, r):
        for wl in self.a.workloads:
            jobs = [lambda wl=wl: self.run_cli(wl, r), lambda wl=wl: self.run_sv_py(wl, r)]
            for ti in range(len(self.torches)):
                for m in TORCH_METHODS[wl]:
                    jobs.append(lambda ti=ti, m=m: self.run_torch(ti, m, r))
            for job in (jobs if r % 2 == 0 else jobs[::-1]):
                job()
            print(f"  round {r + 1}: {wl} done (load {loadavg():.2f})", flush=True)

    def check(self):
        """First round's outputs: CLI vs PyTorch (each version), Python package vs CLI."""
        pairs = {"features": ("cli_f.npy", "py_features_0.npy", "features"),
                 "vjp": ("cli_v.npy", "py_vjp_0.npy", "vjp_loop"),
                 "ig": ("cli_ig.npy", "py_ig_0.npy", "ig_loop")}
        ok = True
        for wl, (cli_out, py_out, tm) in pairs.items():
            if wl not in self.a.workloads:
                continue
            cmp = lambda x, y: json.loads(subprocess.run(  # noqa: E731
                [self.sv_py, os.path.join(HERE, "sv_side.py"), "compare", self.p(x), self.p(y)],
                capture_output=True, text=True, check=True).stdout)
            c = cmp(py_out, cli_out)
            print(f"check {wl}: package vs CLI: bitwise {c.get('bitwise')}, max rel {c.get('max', 0):.1e}")
            ok &= c.get("max", 1) < 1e-6
            for ti in range(len(self.torches)):
                for m in TORCH_METHODS[wl]:
                    c = cmp(cli_out, f"t{ti}_{m}_0.npy")
                    # A deep random ReLU net has pre-activations within float32 rounding of 0, where
                    # either side of the kink is right: PyTorch float32 itself differs from float64 by
                    # ~1e-2 (max) / ~3e-3 (L2) on these gradients. Beyond 5e-2 (L2) something is wrong.
                    print(f"check {wl}: CLI vs {self.names[ti]} {m}: max rel {c.get('max', 1):.1e}, "
                          f"L2 rel {c.get('l2', 1):.1e}")
                    ok &= c.get("l2", 1) < (1e-4 if wl == "features" else 5e-2)
        if not ok:
            sys.exit("sharedvis and PyTorch disagree (or an output is missing): no figures")


def stat(xs):
    return (min(xs), statistics.median(xs)) if xs else (float("nan"), float("nan"))


def fmt_t(xs):
    lo, med = stat(xs)
    return f"{lo:7.3f} / {med:7.3f}" if xs else f"{'—':>17s}"


def load_range(ss):
    ls = [x for s in ss for x in (s["load"], s.get("load_end", s["load"]))]
    return f"{min(ls):.1f}–{max(ls):.1f}" if ls else "—"


def figures(ss, kind, info=None):
    """(times, cpu-seconds, loads) of one side's samples for kind in cold|comp|warm|load."""
    ts, cs = [], []
    for i, s in enumerate(ss):
        if "res" not in s:  # the CLI
            if kind == "comp":
                ts.append(s["t"] - info[min(i, len(info) - 1)]["t"])
                cs.append(s["cpu"] - info[min(i, len(info) - 1)]["cpu"])
            else:
                ts.append(s["t"])
                cs.append(s["cpu"])
            continue
        r = s["res"]
        if kind == "load":
            ts.append(r.get("load_s", float("nan")))
            cs.append(r.get("load_cpu_s", float("nan")))
        elif kind == "cold":
            ts.append(r.get("load_s", 0.0) + r["first_s"])
            cs.append(r.get("load_cpu_s", 0.0) + r["first_cpu_s"])
        elif kind == "comp":
            ts.append(r["first_s"])
            cs.append(r["first_cpu_s"])
        else:
            ts += r["warm_s"]
            cs += r["warm_cpu_s"]
    return ts, cs


def report(b):
    S = b.samples
    cols = ["sharedvis"] + b.names
    print(f"\nresnet50 224x224, layer4 avg, {b.threads} threads; seconds as min / median over "
          f"{b.a.rounds} rounds; ratio = PyTorch min / sharedvis min; ld = 1-min load average (min–max)")
    hdr = f"{'workload':10s}{'':6s}{cols[0]:>41s}" + "".join(f"{c:>58s}" for c in cols[1:])
    print(hdr)
    rows = []
    for wl in b.a.workloads:
        # explain loads another model (the bundled CNN) than `info`: no "command − info" for it
        kinds = {"explain": ["cold", "warm"]}.get(wl, ["cold", "comp", "warm"])
        if wl == "load":  # cold: `sharedvis info`, a whole process; warm: sv.load_model in-process
            kinds = ["cold", "warm"]
        for kind in kinds:
            line = f"{wl if kind == kinds[0] else '':10s}{kind:6s}"
            sv_ss = S.get(("cli", wl), []) if kind in ("cold", "comp") else S.get(("py", wl), [])
            sv_t, sv_c = figures(sv_ss, "load" if (wl, kind) == ("load", "warm") else kind, S.get(("cli", "load")))
            line += f"{fmt_t(sv_t)} s {stat(sv_c)[0]:5.2f} cpu ld {load_range(sv_ss):>7s}"
            row = {"workload": wl, "kind": kind, "sharedvis": {"min": stat(sv_t)[0], "median": stat(sv_t)[1],
                                                               "cpu_min": stat(sv_c)[0], "load": load_range(sv_ss)}}
            for ti, name in enumerate(b.names):
                best = None
                for m in TORCH_METHODS[wl]:
                    ss = S.get((f"torch{ti}:{m}", m), [])
                    t, c = figures(ss, "load" if wl == "load" else kind)
                    if t and (best is None or min(t) < min(best[1])):
                        best = (m, t, c, ss)
                if best is None:
                    line += f"{'—':>58s}"
                    continue
                m, t, c, ss = best
                ratio = min(t) / min(sv_t) if sv_t else float("nan")
                tag = f" {m.split('_')[-1]:7s}" if len(TORCH_METHODS[wl]) > 1 else f"{'':8s}"
                line += f"   {fmt_t(t)} s {stat(c)[0]:5.2f} cpu{tag} {ratio:5.2f}× ld {load_range(ss)}"
                row[name] = {"method": m, "min": min(t), "median": statistics.median(t), "cpu_min": stat(c)[0],
                             "ratio": ratio, "load": load_range(ss)}
            print(line)
            rows.append(row)
    print("\nfaster PyTorch method per workload, and every method's min (s): ")
    for wl in b.a.workloads:
        for ti, name in enumerate(b.names):
            parts = []
            for m in TORCH_METHODS[wl]:
                ss = S.get((f"torch{ti}:{m}", m), [])
                if ss and wl != "load":
                    parts.append(f"{m} cold {min(figures(ss, 'cold')[0]):.3f} warm "
                                 f"{stat(figures(ss, 'warm')[0])[0]:.3f}")
            if parts:
                print(f"  {wl:9s} {name}: " + "; ".join(parts))
    print("\npeak RSS (MiB, min over rounds; ru_maxrss of the process):")
    for wl in b.a.workloads:
        parts = [f"CLI {min(s['rss'] for s in S[('cli', wl)]):7.0f}",
                 f"package {min(s['rss'] for s in S[('py', wl)]):7.0f}"]
        for ti, name in enumerate(b.names):
            for m in TORCH_METHODS[wl]:
                ss = S.get((f"torch{ti}:{m}", m), [])
                if ss:
                    parts.append(f"{name} {m} {min(s['rss'] for s in ss):7.0f}")
        print(f"  {wl:9s} " + ", ".join(parts))
    imp = [f"{n} {min(s['res']['import_s'] for s in S.get((f'torch{ti}:load', 'load'), [{'res': {'import_s': 0}}])):.2f} s"
           for ti, n in enumerate(b.names)]
    print("python start + import (not in any figure): " + ", ".join(imp))
    loads = [x for ss in S.values() for s in ss for x in (s["load"], s.get("load_end", s["load"]))]
    starts = [s["load"] for ss in S.values() for s in ss]
    ends = [s.get("load_end", s["load"]) for ss in S.values() for s in ss]
    print(f"1-min load average at the processes' starts {min(starts):.2f}–{max(starts):.2f}, at their ends "
          f"{min(ends):.2f}–{max(ends):.2f} (it counts the run's own {b.threads} threads"
          + (f"; each process waited for a load under {b.a.quiet_below})" if b.a.quiet_below else ")"))
    if max(loads) >= b.threads + 1:
        print(f"WARNING: load average >= {b.threads + 1} during the run: other work shared the cores, these "
              "timings are not figures; the CPU-seconds are less distorted, the wall times are not.")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli")
    ap.add_argument("--sv-python")
    ap.add_argument("--torch-venv")
    ap.add_argument("--torch", action="append", help="a Python with torch and torchvision (repeatable)")
    ap.add_argument("--make-envs", action="store_true", help="create the sharedvis / PyTorch environments if missing")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm-reps", type=int, default=2, help="in-process calls after the first, per process")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--n", type=int, default=8, help="images for features")
    ap.add_argument("--k", type=int, default=16, help="cotangents for vjp")
    ap.add_argument("--ig-steps", type=int, default=32)
    ap.add_argument("--ig-n", type=int, default=2)
    ap.add_argument("--ig-k", type=int, default=4)
    ap.add_argument("--ig-points", type=int, default=16, help="interpolation points per pass (both sides)")
    ap.add_argument("--quiet-below", type=float, default=0.0,
                    help="before each process wait until the 1-minute load average is under this (e.g. 0.5)")
    ap.add_argument("--quiet-wait", type=float, default=300, help="at most this many seconds per wait")
    ap.add_argument("--json", help="write every sample and the table to this file")
    a = ap.parse_args()
    a.workloads = [w for w in a.workloads.split(",") if w]
    bad = [w for w in a.workloads if w not in WORKLOADS]
    if bad:
        sys.exit(f"--workloads: unknown {bad} (known: {WORKLOADS})")
    if "load" not in a.workloads:
        a.workloads.insert(0, "load")  # the baseline of every other row
    cli, sv_py, torches = find_cli(a.cli), find_sv_python(a), find_torches(a)
    with tempfile.TemporaryDirectory(prefix="sv_compare_") as tmp:
        b = Bench(a, cli, sv_py, torches, tmp)
        b.names = [torch_version(t) for t in torches]
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        print(f"sharedvis {rev.stdout.strip()} ({cli}; package: {sv_py}); " +
              ", ".join(f"{n} ({t})" for n, t in zip(b.names, torches)))
        print(f"{b.threads} cores; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
              f"load average {loadavg():.2f}")
        subprocess.run([sv_py, os.path.join(HERE, "sv_side.py"), "setup", "--dir", tmp, "--n", str(a.n), "--k", str(a.k),
                        "--ig-steps", str(a.ig_steps), "--ig-n", str(a.ig_n), "--ig-k", str(a.ig_k)], check=True)
        for r in range(a.rounds):
            b.round(r)
            if r == 0:
                b.check()
        rows = report(b)
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"rows": rows, "samples": {f"{k[0]}|{k[1]}": v for k, v in b.samples.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
