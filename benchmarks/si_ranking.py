"""Benchmark of the exact forward SI ranking and of one SI over wide features (prints, asserts nothing about time).

    .venv/bin/python benchmarks/si_ranking.py                       # everything, default sizes
    .venv/bin/python benchmarks/si_ranking.py --skip-full --skip-wide   # only ours vs the reference

1. Ours vs a straightforward reference implementation of the definition (an N × N distance matrix per candidate
   per step) on a size the reference can finish: both rankings must agree exactly; prints both times and the ratio.
2. The full ranking of N = 5,000 × D = 2,048 CNN-like features (non-negative, ~60 % zeros, class structure).
3. One SI (and CSI) over N = 5,000 × D = 65,536 features.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from nnlab.analysis import forward_ranking, separation_indices


def make_cnn_like(n: int, d: int, *, classes: int = 10, seed: int = 0, zero_frac: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref-n", type=int, default=1000, help="samples for ours-vs-reference")
    p.add_argument("--ref-d", type=int, default=128, help="features for ours-vs-reference (full ranking)")
    p.add_argument("--n", type=int, default=5000, help="samples for the full ranking")
    p.add_argument("--d", type=int, default=2048, help="features for the full ranking")
    p.add_argument("--max-steps", type=int, default=None, help="stop the big ranking early (default: all)")
    p.add_argument("--wide-n", type=int, default=5000, help="samples for the single wide SI")
    p.add_argument("--wide-d", type=int, default=65536, help="features for the single wide SI")
    p.add_argument("--device", default="cpu", help="device for the wide SI (cpu or cuda); the ranking runs on CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--skip-wide", action="store_true")
    a = p.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    # compile the numba kernels once, outside every timing
    Xw, yw = make_cnn_like(40, 6, seed=a.seed)
    forward_ranking(Xw, yw)

    if not a.skip_reference:
        X, y = make_cnn_like(a.ref_n, a.ref_d, seed=a.seed)
        t = time.perf_counter()
        ours = forward_ranking(X, y)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        ref_f, ref_si = reference_ranking(X, y, a.ref_d)
        t_ref = time.perf_counter() - t
        agree = ours.features == ref_f and ours.si == ref_si
        print(f"[ours vs reference] N={a.ref_n} D={a.ref_d}, full ranking: ours {t_ours:.2f} s, reference "
              f"{t_ref:.2f} s, ratio {t_ref / t_ours:.1f}x, identical features and SI at every step: {agree}")
        if not agree:
            raise SystemExit("MISMATCH between our ranking and the reference")

    if not a.skip_full:
        X, y = make_cnn_like(a.n, a.d, seed=a.seed)
        print(f"[full ranking] N={a.n} D={a.d}: zeros {float((X == 0).mean()):.1%}", flush=True)
        marks = {}
        start = time.perf_counter()

        def progress(step: int, total: int, si: float) -> None:
            if step in (1, 10, 25, 50, 100, 200, 400, 800, 1600) or step == total:
                marks[step] = time.perf_counter() - start
                print(f"  step {step:5d}/{total}: SI {si:.4f}  t={marks[step]:.1f} s", flush=True)

        r = forward_ranking(X, y, max_steps=a.max_steps, progress=progress)
        took = time.perf_counter() - start
        print(f"[full ranking] N={a.n} D={a.d}, {len(r.features)} steps: {took:.1f} s; best prefix "
              f"{r.best_step} features (SI {r.best_si:.4f}), SI with all features {r.si_all:.4f}")

    if not a.skip_wide:
        X, y = make_cnn_like(a.wide_n, a.wide_d, seed=a.seed)
        Xt = torch.from_numpy(X)
        del X
        t = time.perf_counter()
        out = separation_indices(Xt, y, device=a.device, center=False)
        took = time.perf_counter() - t
        print(f"[wide SI] N={a.wide_n} D={a.wide_d} on {a.device}: SI {out['si']:.4f} in {took:.1f} s")


if __name__ == "__main__":
    main()
