"""Benchmarks of the separation-index work (prints figures, asserts nothing about time).

    .venv/bin/python benchmarks/si_ranking.py                       # every section, default sizes
    .venv/bin/python benchmarks/si_ranking.py --only single,wide    # some sections
    .venv/bin/python benchmarks/si_ranking.py --only real --model artifacts/vgg16-mnist5k.safetensors
    .venv/bin/python benchmarks/si_ranking.py --only real --model ... --baseline 1289e5d   # ratio to that commit
    .venv/bin/python benchmarks/si_ranking.py --only scale                # 50,000 x 2,048 (tens of minutes)
    .venv/bin/python benchmarks/si_ranking.py --only targets --scaling-steps 100   # every figure of issue 22

Sections (``--only``, comma-separated; default all but ``real``, which needs a trained model):

* ``reference``: our exact forward ranking against a straightforward implementation of the definition (an N × N
  distance matrix per candidate per step) on a size the latter can finish: both must agree exactly; both times
  and the ratio.
* ``single``: one SI + CSI over N = 5,000 × D = 2,048 CNN-like features, ours against the algorithm of the seed's
  reference code (data_complexity_measures' ``ARH_SeparationIndex``: float32 z-scores, ``torch.cdist`` + argmin,
  class centres by ``cdist`` + argmin), written below, side by side in this process, with the ratio.
* ``full``: the full ranking of N = 5,000 × D = 2,048 synthetic CNN-like features.
* ``wide``: one SI over N = 5,000 × D = 65,536 features (VGG16's first layers at 32 px), ours and the reference
  algorithm side by side, with the ratio.
* ``scale``: one SI + CSI over N = 50,000 × D = 2,048 (``--scale-n``, ``--scale-d``), each run in a child process
  of its own so that its peak memory (VmHWM) is its own: ours; the reference algorithm blocked (float32 ``cdist``
  of 2,000-row blocks against all rows + argmin); ours in 2 torchrun processes (gloo, one thread each), which must
  be identical; and the nearest neighbour of ``--check-rows`` random rows by a blockwise float64 brute force, which
  must equal ours. Times, peaks, the ratio and the load around each run.
* ``profile``: ``si_profile`` of a full-width VGG16 (random weights unless ``--model``) on all 5,000 ``mnist5k``
  images at 32 px (train + val + test: one split of 5,000), all 31 layers of ``features``; run in a child
  process so that its peak memory (VmHWM) is its own.
* ``scaling``: the forward ranking's time and peak memory (VmHWM, each size in its own process) as N grows
  (``--scaling-n``, default 2,500, 5,000, 10,000, 20,000) on CNN-like features of ``--d`` features
  (``--scaling-steps`` steps, default all), the exponent fitted by least squares on log-log, and the projection to
  N = 50,000.
* ``real``: the full ranking of the 5,000 × 2,048 ``features.23`` activations of the trained VGG16 ``--model``
  on the same 5,000 images, and that model's test accuracy. Without ``--model``: a stand-in, the activations of
  a full-width VGG16 with seeded random weights on the same real images (said so in the output).
* ``targets`` stands for ``single,wide,scale,scaling,real``; the run ends with one line per target of issue 22:
  the measured figure, the target and whether it is met.

``--baseline REV`` (``full`` and ``real``): also run the forward ranking of git revision REV (its ranking module and
kernels, loaded from git), side by side in this process: both must agree exactly; both times and the ratio.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nnlab.analysis import forward_ranking, separation_indices

TARGETS: list[str] = []  # one line per target of issue 22 met or missed in this run, printed at the end


def target(name: str, figure: str, goal: str, met: bool) -> None:
    """Record a target's measured figure for the closing summary."""
    TARGETS.append(f"  {name}: {figure} (target {goal}): {'MET' if met else 'NOT MET'}")


def make_cnn_like(
    n: int, d: int, *, classes: int = 10, seed: int = 0, zero_frac: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded CNN-like features: ReLU of class prototypes (half the features carry class signal) plus noise,
    thresholded so that ``zero_frac`` of the entries are exactly zero."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    w = rng.uniform(0.0, 0.8, d) * (rng.random(d) < 0.5)
    proto = (rng.standard_normal((classes, d)) * w).astype(np.float32)
    X = proto[y]
    X += rng.standard_normal((n, d), dtype=np.float32)
    t = np.quantile(X[: min(n, 500)], zero_frac)
    X -= t
    np.maximum(X, 0.0, out=X)
    return X, y


def reference_ranking(X: np.ndarray, y: np.ndarray, steps: int) -> tuple[list[int], list[float]]:
    """The definition, straightforwardly: for every step and every candidate, the full N × N squared distances
    (selected set accumulated in selection order + the candidate), nearest other sample by argmin (lowest index
    on ties), the candidate with the most correct samples (lowest index on ties)."""
    Z = (X.astype(np.float64) - X.mean(0)) / (X.astype(np.float64).std(0, ddof=1) + 1e-10)
    n, d = Z.shape
    acc = np.zeros((n, n))
    chosen: list[int] = []
    sis: list[float] = []
    for _ in range(steps):
        best, best_f = -1, -1
        for f in range(d):
            if f in chosen:
                continue
            diff = Z[:, f][:, None] - Z[:, f][None, :]
            cand = acc + diff * diff
            np.fill_diagonal(cand, np.inf)
            correct = int((y[np.argmin(cand, axis=1)] == y).sum())
            if correct > best:
                best, best_f = correct, f
        chosen.append(best_f)
        sis.append(best / n)
        diff = Z[:, best_f][:, None] - Z[:, best_f][None, :]
        acc += diff * diff
    return chosen, sis


def reference_si_csi(X: torch.Tensor, y: torch.Tensor, batch: int = 5000, center: bool = True) -> tuple[float, float]:
    """SI and CSI as the seed's reference code computes them: float32 z-scores, float32 ``torch.cdist`` distances
    of ``batch`` rows at a time against all rows and argmin (first index on ties of the *rounded* distances), class
    centres likewise (CSI nan without ``center``)."""
    Z = (X - X.mean(0)) / (X.std(0) + 1e-10)
    nearest = torch.empty(len(Z), dtype=torch.int64)
    for s in range(0, len(Z), batch):
        D = torch.cdist(Z[s : s + batch], Z)
        D[torch.arange(D.shape[0]), torch.arange(s, s + D.shape[0])] = float("inf")
        nearest[s : s + batch] = D.argmin(1)
    si = float((y[nearest] == y).float().mean())
    if not center:
        return si, float("nan")
    classes = torch.unique(y)
    centres = torch.stack([Z[y == c].mean(0) for c in classes])
    csi = float((classes[torch.cdist(Z, centres).argmin(1)] == y).float().mean())
    return si, csi


def mnist5k_all(image_size: int = 32):
    """All 5,000 mnist5k images (train + val + test) at ``image_size``, as one dataset."""
    from nnlab.training.recipe import DataOptions

    data = DataOptions(dataset="mnist5k", image_size=image_size)
    return torch.utils.data.ConcatDataset([data.load(s) for s in ("train", "val", "test")]), data


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used: under a shared machine's load the wall time
    says little, the CPU time says what the work costs (on an idle machine, wall ≈ CPU / threads at best)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, *args, **kwargs):
    """(result, wall seconds, CPU seconds) of one call."""
    c, t = cpu_seconds(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t, cpu_seconds() - c


def vmhwm_mb() -> float:
    """Peak resident memory of this process (VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def profile_child(model_path: str | None) -> None:
    """The ``profile`` section's body (in its own process): prints one JSON line."""
    from nnlab.analysis import si_profile
    from nnlab.training.recipe import build_new_model

    ds, data = mnist5k_all(32)
    if model_path:
        from nnlab.models import load_model

        model = load_model(model_path)
    else:
        torch.manual_seed(0)
        model = build_new_model("vgg16", data, width=1.0)
    start = time.perf_counter()
    marks = []

    def progress(message: str) -> None:
        marks.append((round(time.perf_counter() - start, 1), message))
        print(f"  {marks[-1][0]:7.1f} s  {message}", file=sys.stderr, flush=True)

    c0 = cpu_seconds()
    table = si_profile(model, {"all": ds}, progress=progress)
    took = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": took,
                "cpu": cpu_seconds() - c0,
                "peak_mb": vmhwm_mb(),
                "layers": len(table),
                "samples": len(ds),
                "dims": int(table["dim"].sum()),
                "si": [round(v, 4) for v in table["si"]],
                "csi": [round(v, 4) for v in table["csi"]],
            }
        )
    )


def scaling_child(n: int, d: int, steps: int | None, seed: int) -> None:
    """The ``scaling`` section's body for one N (in its own process, so that VmHWM is its own): one JSON line."""
    X, y = make_cnn_like(n, d, seed=seed)
    Xw, yw = make_cnn_like(40, 6, seed=seed)
    forward_ranking(Xw, yw, lazy_after=2)  # compile outside the timing
    base = vmhwm_mb()
    r, took, cpu = timed(forward_ranking, X, y, max_steps=steps)
    print(json.dumps({"n": n, "seconds": took, "cpu": cpu, "peak_mb": vmhwm_mb(), "base_mb": base, "steps": len(r.si)}))


def scaling_section(sizes: list[int], d: int, steps: int | None, seed: int) -> None:
    """Time and peak memory of the forward ranking at each N, the fitted exponent and the projection to 50,000."""
    rows = []
    for n in sizes:
        cmd = [sys.executable, __file__, "--scaling-child", str(n), "--d", str(d), "--seed", str(seed)]
        cmd += ["--max-steps", str(steps)] if steps else []
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        r["load"] = os.getloadavg()[0]
        rows.append(r)
        print(
            f"  N={n:>6,}: {r['seconds']:8.1f} s (CPU {r['cpu']:8.1f} s), peak {r['peak_mb']:8,.0f} MB, {r['steps']} "
            f"steps; load {r['load']:.1f}",
            flush=True,
        )
    print(f"[ranking scaling] D={d}, {rows[0]['steps']} steps, CNN-like features:")
    print("       N |   wall s |    CPU s | peak MB")
    for r in rows:
        print(f"  {r['n']:>6,} | {r['seconds']:8.1f} | {r['cpu']:8.1f} | {r['peak_mb']:7,.0f}")
    if len(rows) >= 2:
        logn = np.log([r["n"] for r in rows])
        for key in ("seconds", "cpu", "peak_mb"):
            slope, icpt = np.polyfit(logn, np.log([r[key] for r in rows]), 1)
            print(
                f"  {key}: exponent {slope:.2f} (least squares on log-log); "
                f"at N=50,000: {np.exp(icpt) * 50000**slope:,.0f}"
            )
            if key == "seconds":
                target(
                    "ranking scaling",
                    f"{len(rows)} sizes, {rows[0]['steps']} steps, time exponent {slope:.2f}, "
                    f"N=50,000 projected {np.exp(icpt) * 50000**slope:,.0f} s",
                    "measured and projected",
                    True,
                )


def section_single(a) -> None:
    """One SI + CSI over ``--n`` × ``--d`` against the reference algorithm, interleaved ``--repeat`` times."""
    X, y = make_cnn_like(a.n, a.d, seed=a.seed)
    Xt, yt = torch.from_numpy(X).to(a.device), torch.as_tensor(y).to(a.device)
    separation_indices(Xt[:200], yt[:200], device=a.device)  # warm-up
    t_ours, t_ref, c_ours, c_ref = [], [], [], []
    for _ in range(a.repeat):  # interleaved, so that both see the same load
        ours, t, c = timed(separation_indices, Xt, yt, device=a.device)
        t_ours.append(t)
        c_ours.append(c)
        ref, t, c = timed(reference_si_csi, Xt, yt)
        t_ref.append(t)
        c_ref.append(c)
    print(
        f"[single SI + CSI] N={a.n} D={a.d} on {a.device}: ours {min(t_ours):.2f} s (SI {ours['si']:.4f}, "
        f"CSI {ours['csi']:.4f}), reference algorithm {min(t_ref):.2f} s (SI {ref[0]:.4f}, CSI {ref[1]:.4f}), "
        f"ratio {min(t_ref) / min(t_ours):.2f}x (best of {a.repeat}; all ours {[round(v, 2) for v in t_ours]},"
        f" reference {[round(v, 2) for v in t_ref]}); CPU time ours {min(c_ours):.2f} s, reference "
        f"{min(c_ref):.2f} s, ratio {min(c_ref) / min(c_ours):.2f}x; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    ratio = min(t_ref) / min(t_ours)
    same = abs(ours["si"] - ref[0]) < 1e-6
    target(
        f"single SI + CSI {a.n} x {a.d}",
        f"{ratio:.2f}x the reference (CPU {min(c_ref) / min(c_ours):.2f}x), same SI {same}",
        ">= 2x",
        ratio >= 2,
    )


def section_wide(a) -> None:
    """One SI over ``--wide-n`` × ``--wide-d`` against the reference algorithm (SI only), side by side."""
    X, y = make_cnn_like(a.wide_n, a.wide_d, seed=a.seed)
    Xt, yt = torch.from_numpy(X), torch.as_tensor(y)
    del X
    out, took, cpu = timed(separation_indices, Xt, yt, device=a.device, center=False)
    load = os.getloadavg()[0]
    ref, t_ref, c_ref = timed(reference_si_csi, Xt.to(a.device), yt.to(a.device), center=False)
    print(
        f"[wide SI] N={a.wide_n} D={a.wide_d} on {a.device}: ours SI {out['si']:.4f} in {took:.1f} s (CPU "
        f"{cpu:.1f} s; load {load:.1f}), reference algorithm SI {ref[0]:.4f} in {t_ref:.1f} s (CPU {c_ref:.1f} s), "
        f"ratio {t_ref / took:.2f}x (CPU {c_ref / cpu:.2f}x); load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    target(f"wide SI {a.wide_n} x {a.wide_d}", f"{took:.1f} s (CPU {cpu:.1f} s)", "<= 12 s", took <= 12)


def brute_nearest(X: np.ndarray, rows: np.ndarray, block: int = 8192) -> list[int]:
    """Nearest other row of each of ``rows`` by blockwise float64 brute force on the float64 z-scores: float64
    GEMM distances to every row, block by block, then the near-minimal ones (within 1e-9 relative) recomputed from
    differences and ordered by (distance, index)."""
    Z = torch.from_numpy(X).to(torch.float64)
    Z = (Z - Z.mean(0)) / (Z.std(0) + 1e-10)
    norms = (Z * Z).sum(1)
    q = Z[rows]
    d = torch.empty((len(rows), Z.shape[0]), dtype=torch.float64)
    for s in range(0, Z.shape[0], block):
        d[:, s : s + block] = norms[rows][:, None] + norms[None, s : s + block] - 2.0 * q @ Z[s : s + block].T
    d[torch.arange(len(rows)), torch.as_tensor(rows)] = float("inf")
    out = []
    for i, r in enumerate(rows):
        low = float(d[i].min())
        near = torch.nonzero(d[i] <= low + 1e-9 * abs(low) + 1e-9).flatten()
        exact = ((Z[near] - Z[r]) ** 2).sum(1)
        best = min(zip(exact.tolist(), near.tolist(), strict=True))
        out.append(int(best[1]))
    return out


def scale_child(a, kind: str) -> None:
    """The ``scale`` section's bodies, each in its own process (its VmHWM is its own): ``ours`` (one process, or
    each torchrun process with ``shard``), ``reference`` (blocked float32 cdist + argmin) or ``brute`` (the
    check rows' nearest neighbours by float64 brute force). Prints one JSON line (rank 0 under torchrun)."""
    X, y = make_cnn_like(a.scale_n, a.scale_d, seed=a.seed)
    rows = np.sort(np.random.default_rng(a.seed + 1).choice(a.scale_n, a.check_rows, replace=False))
    if kind == "brute":
        print(json.dumps({"nearest": brute_nearest(X, rows), "peak_mb": vmhwm_mb()}))
        return
    Xt, yt = torch.from_numpy(X).to(a.device), torch.as_tensor(y).to(a.device)
    del X
    if kind == "reference":
        (si, csi), took, cpu = timed(reference_si_csi, Xt, yt, 2000)
        print(json.dumps({"si": si, "csi": csi, "seconds": took, "cpu": cpu, "peak_mb": vmhwm_mb()}))
        return
    import nnlab.analysis.separation as sep

    group = None
    if kind == "shard":
        import torch.distributed as dist

        dist.init_process_group("gloo")
        group = dist.group.WORLD
    seen = {}
    knn = sep.knn

    def recording_knn(*args, **kwargs):  # keep the neighbours the indices are computed from
        seen["idx"] = knn(*args, **kwargs)[0]
        return seen["idx"], None

    sep.knn = recording_knn
    out, took, cpu = timed(separation_indices, Xt, yt, device=a.device, group=group)
    if group is None or group.rank() == 0:
        nearest = seen["idx"][torch.as_tensor(rows), 0].tolist()
        print(json.dumps({**out, "seconds": took, "cpu": cpu, "peak_mb": vmhwm_mb(), "nearest": nearest}))


def section_scale(a) -> None:
    """SI + CSI over ``--scale-n`` × ``--scale-d`` in child processes: ours, the blocked reference, ours in 2
    torchrun processes, and a float64 brute force on ``--check-rows`` random rows."""
    base = [__file__, "--scale-n", str(a.scale_n), "--scale-d", str(a.scale_d)]
    base += ["--seed", str(a.seed), "--check-rows", str(a.check_rows), "--device", a.device]

    def child(kind: str, launcher: list[str] | None = None, env: dict | None = None) -> dict:
        cmd = (launcher or [sys.executable]) + base + ["--scale-child", kind]
        load = os.getloadavg()[0]
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        r["load"] = (load, os.getloadavg()[0])
        return r

    ours = child("ours")
    ref = child("reference")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    shard = child("shard", torchrun, dict(os.environ, OMP_NUM_THREADS="1"))
    brute = child("brute")
    exact = ours["nearest"] == brute["nearest"]
    same = all(ours[k] == shard[k] for k in ("si", "csi", "nearest"))
    print(
        f"[scale SI + CSI] N={a.scale_n} D={a.scale_d} on {a.device}: ours {ours['seconds']:.1f} s (CPU "
        f"{ours['cpu']:.1f} s), peak {ours['peak_mb']:,.0f} MB, SI {ours['si']:.4f}, CSI {ours['csi']:.4f} "
        f"(load {ours['load'][0]:.1f}-{ours['load'][1]:.1f}); reference algorithm (float32 cdist of 2,000-row "
        f"blocks + argmin) {ref['seconds']:.1f} s (CPU {ref['cpu']:.1f} s), peak {ref['peak_mb']:,.0f} MB, SI "
        f"{ref['si']:.4f}, CSI {ref['csi']:.4f} (load {ref['load'][0]:.1f}-{ref['load'][1]:.1f}); ratio "
        f"{ref['seconds'] / ours['seconds']:.2f}x (CPU {ref['cpu'] / ours['cpu']:.2f}x)\n"
        f"  2 torchrun processes (1 thread each): {shard['seconds']:.1f} s, peak {shard['peak_mb']:,.0f} MB per "
        f"process, identical to one process: {same}; nearest neighbour of {a.check_rows} random rows equal to a "
        f"blockwise float64 brute force: {exact}",
        flush=True,
    )
    ratio = ref["seconds"] / ours["seconds"]
    target(
        f"scale SI + CSI {a.scale_n} x {a.scale_d}",
        f"{ratio:.2f}x the blocked reference (CPU {ref['cpu'] / ours['cpu']:.2f}x), peak "
        f"{ours['peak_mb'] / 1024:.2f} GiB, exact {exact}, 2 processes identical {same}",
        ">= 1.5x, < 3 GiB, exact",
        ratio >= 1.5 and ours["peak_mb"] < 3 * 1024 and exact and same,
    )
    if not (exact and same):
        raise SystemExit("MISMATCH at scale")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="reference,single,full,wide,scale,profile", help="sections to run")
    p.add_argument("--ref-n", type=int, default=1000, help="samples for ours-vs-reference")
    p.add_argument("--ref-d", type=int, default=128, help="features for ours-vs-reference (full ranking)")
    p.add_argument("--n", type=int, default=5000, help="samples for the full ranking and the single SI")
    p.add_argument("--d", type=int, default=2048, help="features for the full ranking and the single SI")
    p.add_argument("--repeat", type=int, default=3, help="single SI: runs of each (the best is kept)")
    p.add_argument("--max-steps", type=int, default=None, help="stop the big rankings early (default: all)")
    p.add_argument("--wide-n", type=int, default=5000, help="samples for the single wide SI")
    p.add_argument("--wide-d", type=int, default=65536, help="features for the single wide SI")
    p.add_argument("--device", default="cpu", help="device for the SI sections (cpu or cuda); rankings run on CPU")
    p.add_argument("--model", default=None, help="model artifact: a trained full-width VGG16 (real; profile)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's); 1 resists load")
    p.add_argument("--baseline", default=None, help="git revision whose forward ranking runs side by side (full, real)")
    p.add_argument("--scaling-n", default="2500,5000,10000,20000", help="scaling: sample counts")
    p.add_argument("--scaling-steps", type=int, default=None, help="scaling: ranking steps (default: all)")
    p.add_argument("--scaling-child", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--scale-n", type=int, default=50000, help="samples for the scale section")
    p.add_argument("--scale-d", type=int, default=2048, help="features for the scale section")
    p.add_argument("--check-rows", type=int, default=200, help="scale: rows checked against a float64 brute force")
    p.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--scale-child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.profile_child:
        profile_child(a.model)
        return
    if a.scaling_child:
        scaling_child(a.scaling_child, a.d, a.max_steps, a.seed)
        return
    if a.scale_child:
        scale_child(a, a.scale_child)
        return
    only = set(a.only.split(","))
    if "targets" in only:
        only |= {"single", "wide", "scale", "scaling", "real"}
    if a.threads:
        torch.set_num_threads(a.threads)
    baseline = baseline_ranking(a.baseline) if a.baseline else None

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}"
    )
    # compile the numba kernels once, outside every timing
    Xw, yw = make_cnn_like(40, 6, seed=a.seed)
    forward_ranking(Xw, yw, lazy_after=2)  # the lazy-row kernels too

    if "reference" in only:
        X, y = make_cnn_like(a.ref_n, a.ref_d, seed=a.seed)
        t = time.perf_counter()
        ours = forward_ranking(X, y)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        ref_f, ref_si = reference_ranking(X, y, a.ref_d)
        t_ref = time.perf_counter() - t
        agree = ours.features == ref_f and ours.si == ref_si
        print(
            f"[ours vs reference] N={a.ref_n} D={a.ref_d}, full ranking: ours {t_ours:.2f} s, reference "
            f"{t_ref:.2f} s, ratio {t_ref / t_ours:.1f}x, identical features and SI at every step: {agree}"
        )
        if not agree:
            raise SystemExit("MISMATCH between our ranking and the reference")

    if "single" in only:
        section_single(a)

    if "full" in only:
        X, y = make_cnn_like(a.n, a.d, seed=a.seed)
        print(f"[full ranking] N={a.n} D={a.d}: zeros {float((X == 0).mean()):.1%}", flush=True)
        run_ranking(X, y, a.max_steps, "full ranking", baseline)

    if "wide" in only:
        section_wide(a)

    if "scale" in only:
        section_scale(a)

    if "profile" in only:
        cmd = [sys.executable, __file__, "--profile-child"] + (["--model", a.model] if a.model else [])
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"[si-profile] full-width VGG16 ({'weights of ' + a.model if a.model else 'random weights'}), "
            f"{r['samples']:,} mnist5k images at 32 px, {r['layers']} layers ({r['dims']:,} features in all): "
            f"{r['seconds']:.1f} s (CPU {r['cpu']:.1f} s), peak memory {r['peak_mb']:,.0f} MB; load "
            f"{os.getloadavg()[0]:.1f}\n"
            f"  SI  {r['si']}\n  CSI {r['csi']}"
        )

    if "scaling" in only:
        scaling_section([int(v) for v in a.scaling_n.split(",")], a.d, a.scaling_steps, a.seed)

    if "real" in only:
        from nnlab.analysis import extract_activations

        ds, data = mnist5k_all(32)
        if a.model:
            from nnlab.models import load_model

            model = load_model(a.model)
            what = f"trained VGG16 {a.model}"
        else:  # a stand-in: real images, seeded random weights (no trained model at hand)
            from nnlab.training.recipe import build_new_model

            torch.manual_seed(a.seed)
            model = build_new_model("vgg16", data, width=1.0)
            what = "STAND-IN: full-width VGG16 with seeded random weights (no trained model in this run)"
        acts, labels = extract_activations(model, ds, ["features.23", model_output_layer(model)])
        logits = acts.popitem()[1]
        test_n = len(data.load("test"))
        acc = float((logits[-test_n:].argmax(1) == labels[-test_n:]).double().mean())
        X = acts["features.23"]
        print(
            f"[real ranking] {what}: test accuracy {acc:.4f}; features.23 {tuple(X.shape)}, "
            f"zeros {float((X == 0).double().mean()):.1%}",
            flush=True,
        )
        took = run_ranking(X.numpy(), labels.numpy(), a.max_steps, "real ranking", baseline)
        label = "trained" if a.model else "random-weight stand-in"
        target(f"forward ranking of {X.shape[0]} real features ({label})", f"{took:.1f} s", "<= 30 s", took <= 30)

    if TARGETS:
        print(f"[targets of issue 22] load average {os.getloadavg()}:")
        print("\n".join(TARGETS))


def model_output_layer(model) -> str:
    """The name of the raw net's last module (its output: the logits)."""
    return [n for n, _ in model.net.named_modules() if n][-1]


def baseline_ranking(rev: str):
    """``forward_ranking`` of git revision ``rev``: its ranking module and kernels, loaded from git as a temporary
    package (the rest of nnlab is today's)."""
    root = Path(__file__).resolve().parents[1]
    pkg = Path(tempfile.mkdtemp(prefix="nnlab-baseline-")) / "nnlab_baseline"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for name in ("ranking", "_rank_kernels"):
        git = ["git", "-C", str(root), "show", f"{rev}:nnlab/analysis/{name}.py"]
        src = subprocess.run(git, check=True, capture_output=True, text=True).stdout
        src = src.replace("from nnlab.analysis import _rank_kernels", "from nnlab_baseline import _rank_kernels")
        (pkg / f"{name}.py").write_text(src)
    sys.path.insert(0, str(pkg.parent))
    fn = importlib.import_module("nnlab_baseline.ranking").forward_ranking
    Xw, yw = make_cnn_like(40, 6)
    fn(Xw, yw)  # compile its kernels outside every timing
    return fn


def run_ranking(X: np.ndarray, y: np.ndarray, max_steps: int | None, label: str, baseline=None) -> float:
    """Time one full forward ranking, printing a few steps on the way; with ``baseline`` (another
    ``forward_ranking``) time that one first on the same features and check that both agree exactly."""
    if baseline is not None:
        ref, t_ref, c_ref = timed(baseline, X, y, max_steps=max_steps)
        print(f"  baseline: {t_ref:.1f} s (CPU {c_ref:.1f} s); load {os.getloadavg()[0]:.1f}", flush=True)
    marks = {}
    start, c0 = time.perf_counter(), cpu_seconds()

    def progress(step: int, total: int, si: float) -> None:
        if step in (1, 2, 5, 10, 25, 50, 100, 200, 400, 800, 1600) or step == total:
            marks[step] = time.perf_counter() - start
            print(f"  step {step:5d}/{total}: SI {si:.4f}  t={marks[step]:.1f} s", flush=True)

    r = forward_ranking(X, y, max_steps=max_steps, progress=progress)
    took, cpu = time.perf_counter() - start, cpu_seconds() - c0
    print(
        f"[{label}] N={X.shape[0]} D={X.shape[1]}, {len(r.features)} steps: {took:.1f} s (CPU {cpu:.1f} s); best "
        f"prefix "
        f"{r.best_step} features (SI {r.best_si:.4f}), SI with all features {r.si_all:.4f}; load "
        f"{os.getloadavg()[0]:.1f}"
    )
    if baseline is not None:
        same = (ref.features, ref.si, ref.si_all, ref.best_step) == (r.features, r.si, r.si_all, r.best_step)
        print(
            f"[{label} vs baseline] ratio {t_ref / took:.2f}x (CPU {c_ref / cpu:.2f}x); identical features and SI at "
            f"every step: {same}"
        )
        if not same:
            raise SystemExit("MISMATCH between the ranking and the baseline")
    return took


if __name__ == "__main__":
    main()
