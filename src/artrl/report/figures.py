"""The figures (matplotlib, Agg, written atomically as PNG): W2 against K, θ(t) of an ART-RL
schedule, ART-RL training diagnostics, FID against NFE, σ-grids and sample grids.

With R > 1 replicates per cell (issue 16) the W2 and FID figures draw each point at the mean
over the replicates with error bars of ± their sample std (ddof=1), and say so in the legend;
with one replicate they are drawn as before. :func:`make_w2_figure` / :func:`make_fid_figure`
build the (unsaved) matplotlib Figure, which the tests read the drawn bars from."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from artrl.io import atomic_write
from artrl.report.common import ReportError
from artrl.report.published import PAPER_K, PAPER_THETA
from artrl.report.records import FidRecord, MetricRecord, Shard, _nfe_axis_label
from artrl.report.replicates import replicate_stats
from artrl.report.tables import _default_reference_label, _one, _order
from artrl.schedules import Schedule, ScheduleError

DPI = 150


# ----------------------------------------------------------------------------------------------
# W2, θ(t) and ART-RL diagnostics figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


MARKERS = "osD^v<>ph*"


def line_style(i: int, n: int) -> dict[str, Any]:
    """Colour, marker and dash of the i-th of n lines: matplotlib's 10 default colours up to 10
    lines, else tab20 with alternating dashes, so that up to 20 methods stay distinguishable."""
    import matplotlib

    marker = MARKERS[i % len(MARKERS)]
    if n <= 10:
        return {"color": f"C{i}", "marker": marker, "linestyle": "-"}
    color = matplotlib.colormaps["tab20"](i % 20)
    return {"color": color, "marker": marker, "linestyle": "-" if i % 2 == 0 else "--"}


def _save(fig, path: str | os.PathLike) -> Path:
    def _w(tmp: str) -> None:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")

    try:
        return atomic_write(path, _w)
    finally:
        _pyplot().close(fig)


def replicate_count(records: Sequence[MetricRecord] | Sequence[FidRecord]) -> int:
    """How many distinct replicates the records hold (1 for a table without replicates)."""
    return len({r.replicate for r in records}) or 1


def _spread_series(rs: Sequence[Any], x: str, y: str) -> tuple[list[int], list[float], list[float]]:
    """x values ascending, the mean of ``y`` over each x's replicates and their sample std."""
    xs = sorted({getattr(r, x) for r in rs})
    st = [replicate_stats([getattr(r, y) for r in rs if getattr(r, x) == v]) for v in xs]
    return xs, [s.mean for s in st], [s.sd for s in st]


def _spread_legend(ax, R: int) -> None:
    ax.errorbar(
        [], [], yerr=[], color="0.3", capsize=2, label=f"bars: ± sample std, {R} replicates"
    )


def make_w2_figure(
    records: Sequence[MetricRecord],
    labels: dict[str, str] | None,
    *,
    paper: dict[str, tuple[str, tuple[float, ...]]] | None = None,
    title: str | None = None,
):
    """The figure of :func:`w2_figure`, not saved (the caller closes it)."""
    plt = _pyplot()
    labels = dict(labels or {})
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    drew_paper = False
    order = _order(records, labels)
    R = replicate_count(records)
    for i, name in enumerate(order):
        rs = sorted((r for r in records if r.name == name), key=lambda r: r.K)
        style = line_style(i, len(order))
        kw = dict(markersize=4, linewidth=1.5, label=labels.get(name, name), **style)
        if R > 1:
            ks, mean, sd = _spread_series(rs, "K", "w2_exact")
            bars = ax.errorbar(ks, mean, yerr=sd, capsize=2, **kw)
            line = bars.lines[0]
        else:
            (line,) = ax.plot([r.K for r in rs], [r.w2_exact for r in rs], **kw)
        if paper and name in paper:
            ax.plot(
                PAPER_K,
                paper[name][1],
                linestyle="none",
                marker=style["marker"],
                markersize=7,
                markerfacecolor="none",
                markeredgecolor=line.get_color(),
                alpha=0.8,
            )
            drew_paper = True
    if drew_paper:
        ax.plot([], [], "ko", markerfacecolor="none", label="paper (Table 1)")
    if R > 1:
        _spread_legend(ax, R)
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sorted({r.K for r in records} | (set(PAPER_K) if drew_paper else set())))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("K (Euler steps = NFE)")
    ax.set_ylabel(r"$W_2$ to $\mathcal{N}(0, 1)$")
    ax.set_title(title or r"1-D Gaussian: $W_2$ against K")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return fig


def w2_figure(
    records: Sequence[MetricRecord],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    paper: dict[str, tuple[str, tuple[float, ...]]] | None = None,
    title: str | None = None,
) -> Path:
    """W2 (exact) against K, log-log, one line per schedule; paper values as hollow markers;
    with replicates, the mean over them with ± sample-std error bars."""
    return _save(make_w2_figure(records, labels, paper=paper, title=title), out)


def _theta_extra(sched: Schedule, key: str) -> np.ndarray | None:
    v = sched.extra.get(key)
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (sched.K,):
        raise ReportError(f"schedule extra {key!r} must have length K = {sched.K}, got {a.shape}")
    return a


def _step_t(T: float, K: int) -> np.ndarray:
    return T * np.arange(K + 1) / K


def _step_y(v: np.ndarray) -> np.ndarray:
    """Values on the K intervals, the last repeated so that a 'post' step reaches t = T."""
    v = np.asarray(v, dtype=np.float64)
    return np.append(v, v[-1])


def theta_figure(
    schedule: str | os.PathLike,
    out: str | os.PathLike,
    *,
    analytic: str | os.PathLike | None = None,
    paper_points: Sequence[tuple[float, float]] | None = PAPER_THETA,
    title: str | None = None,
) -> Path:
    """θ(t) of a learned schedule (extra theta_mean/q25/q75, else its distilled clock speed)."""
    try:
        s = Schedule.load(schedule)
        a = Schedule.load(analytic) if analytic is not None else None
    except ScheduleError as e:
        raise ReportError(str(e)) from None
    T = s.sigma_max
    t = _step_t(T, s.K)
    mean = _theta_extra(s, "theta_mean")
    q25, q75 = _theta_extra(s, "theta_q25"), _theta_extra(s, "theta_q75")

    # θ_k is the clock speed on [t_k, t_{k+1}): drawn as a step function over [0, T]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    learned = dict(where="post", color="C0", linewidth=1.8)
    if mean is not None:
        if q25 is not None and q75 is not None:
            ax.fill_between(
                t, _step_y(q25), _step_y(q75), step="post", alpha=0.25, color="C0", label="IQR"
            )
        ax.step(t, _step_y(mean), label=f"ART-RL θ (mean, K={s.K})", **learned)
    else:
        ax.step(t, _step_y(s.theta), label=f"ART-RL θ (distilled, K={s.K})", **learned)
    if a is not None:
        ax.step(
            _step_t(a.sigma_max, a.K),
            _step_y(a.theta),
            where="post",
            color="C1",
            linestyle="--",
            linewidth=1.5,
            label=f"analytic optimum θ* (K={a.K})",
        )
    if paper_points:
        pt = np.asarray(paper_points, dtype=np.float64)
        ax.plot(
            pt[:, 0],
            pt[:, 1],
            linestyle="none",
            marker="o",
            markersize=6,
            markerfacecolor="none",
            markeredgecolor="k",
            label="paper Fig. 1 (read off)",
        )
    ax.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":", label="uniform (θ = 1)")
    ax.set_xlim(0.0, T)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("t (ART clock time)")
    ax.set_ylabel(r"clock speed $\theta(t) = d\psi/dt$")
    ax.set_title(title or "1-D Gaussian: learned clock speed")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, out)


def art_diagnostics(train_log: str | Path, schedule: str | Path, out: str | Path) -> Path:
    """One ART-RL run's training, over iterations: the expected ART cost of its rollouts
    (refined and plain) against ART-analytic's on the same paths (from the schedule's
    provenance, when recorded); the last positive σ of the actor means' grid (scale-free clock:
    the budget holds by construction) or the budget Σθ_kΔt and γ (the paper's clock); the
    critic's TD error."""
    log = pd.read_csv(train_log)
    s = Schedule.load(schedule)
    ex = s.extra or {}
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.8))
    it = log["iteration"]
    ax = axes[0]
    ax.plot(it, log["art_cost"], lw=0.8, label="rollouts (charged)")
    if "art_cost_plain" in log:
        ax.plot(it, log["art_cost_plain"], lw=0.8, label="rollouts, plain (left point)")
    for key, style, label in (
        ("analytic_art_cost_refined", "--", "ART-analytic, refined"),
        ("analytic_art_cost_plain", ":", "ART-analytic, plain"),
        ("art_cost_refined", "-.", "distilled grid, refined"),
    ):
        if key in ex:
            ax.axhline(ex[key], color="k", ls=style, lw=0.9, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title("expected ART cost")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[1]
    if "last_sigma_mean" in log:
        ax.plot(it, log["last_sigma_mean"], lw=0.8, label="σ before the grid's end (actor means)")
        ax.set_yscale("log")
        ax.set_title("the grid's end is exact by construction")
    else:
        ax.plot(it, log["budget_mean"], lw=0.8, label="budget Σθ_kΔt")
        ax.axhline(s.sigma_max, color="k", ls="--", lw=0.9, label="T")
        ax2 = ax.twinx()
        ax2.plot(it, log["gamma"], lw=0.8, color="C3", label="γ")
        ax2.set_ylabel("γ", color="C3")
        ax.set_title("budget and multiplier γ")
    ax.set_xlabel("iteration")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[2]
    ax.plot(it, log["td_rmse"], lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title("critic: RMS TD error")
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.suptitle(f"ART-RL {s.dataset} {s.method} K={s.K}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


MAX_SIGMA_PANELS = 4


# ----------------------------------------------------------------------------------------------
# Image figures: FID against NFE, σ-grids, sample grids


def make_fid_figure(
    records: Sequence[FidRecord],
    labels: dict[str, str] | None,
    *,
    solver: str | None = None,
    reference: FidRecord | None = None,
    reference_label: str | None = None,
    title: str | None = None,
):
    """The figure of :func:`fid_figure`, not saved (the caller closes it)."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    plt = _pyplot()
    labels = dict(labels or {})
    solver = solver or _one([r.solver for r in records])
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    order = _order(records, labels)
    R = replicate_count(records)
    for i, name in enumerate(order):
        rs = sorted((r for r in records if r.name == name), key=lambda r: r.nfe)
        x = np.array([r.nfe for r in rs], dtype=float)
        y = np.array([r.fid for r in rs])
        kw = dict(markersize=4, linewidth=1.5, **line_style(i, len(order)))
        if R > 1:
            nfe, mean, sd = _spread_series(rs, "nfe", "fid")
            ax.errorbar(nfe, mean, yerr=sd, capsize=2, label=labels.get(name, name), **kw)
        elif any(r.blocks > 1 for r in rs):
            err = np.array([[r.fid - r.fid_min for r in rs], [r.fid_max - r.fid for r in rs]])
            ax.errorbar(x, y, yerr=err, capsize=2, label=labels.get(name, name), **kw)
        else:
            ax.plot(x, y, label=labels.get(name, name), **kw)
    if reference is not None:
        lab = reference_label or _default_reference_label(reference, labels)
        ax.axhline(
            reference.fid,
            color="0.3",
            linestyle="--",
            linewidth=1.2,
            label=f"{lab}, NFE {reference.nfe}: {reference.fid:.2f}",
        )
    if R > 1:
        _spread_legend(ax, R)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sorted({r.nfe for r in records}))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(_nfe_axis_label(solver))
    ax.set_ylabel("FID (lower is better)")
    dataset = _one([r.dataset for r in records])
    ax.set_title(title or f"FID against NFE{f': {dataset}' if dataset else ''}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def fid_figure(
    records: Sequence[FidRecord],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    solver: str | None = None,
    reference: FidRecord | None = None,
    reference_label: str | None = None,
    title: str | None = None,
) -> Path:
    """FID against NFE, log-log, one line per schedule (min–max bars over seed blocks; with
    replicates, the mean over them with ± sample-std bars instead), the reference as a dashed
    horizontal line."""
    fig = make_fid_figure(
        records,
        labels,
        solver=solver,
        reference=reference,
        reference_label=reference_label,
        title=title,
    )
    return _save(fig, out)


@dataclass(frozen=True)
class _Named:
    name: str


def sigma_figure(
    schedules: Sequence[tuple[str, Schedule]],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    x: str = "fraction",
    title: str | None = None,
) -> Path:
    """σ_k (log scale) against k/K (``x="fraction"``) or k (``"index"``), one line per schedule,
    one panel per K (at most 4). σ_K = 0 is left off the log axis."""
    if x not in ("fraction", "index"):
        raise ReportError(f"x must be 'fraction' or 'index', got {x!r}")
    labels = dict(labels or {})
    Ks = sorted({s.K for _, s in schedules})
    if len(Ks) > MAX_SIGMA_PANELS:
        raise ReportError(
            f"schedules at {len(Ks)} different K {Ks}; at most {MAX_SIGMA_PANELS} panels"
        )
    order = _order([_Named(n) for n, _ in schedules], labels)
    style = {n: line_style(i, len(order)) for i, n in enumerate(order)}
    plt = _pyplot()
    outside = len(Ks) == 1 and len(order) > 8  # many methods at one K: legend beside the axes
    size = (8.6, 4.4) if outside else (4.6 * len(Ks), 4.0)
    fig, axes = plt.subplots(1, len(Ks), figsize=size, squeeze=False, sharey=True)
    for ax, K in zip(axes[0], Ks, strict=True):
        here = {n: s for n, s in schedules if s.K == K}
        for name in (n for n in order if n in here):
            sig = here[name].sigmas[:-1] if here[name].sigmas[-1] == 0 else here[name].sigmas
            k = np.arange(len(sig), dtype=float)
            ax.plot(
                k / K if x == "fraction" else k,
                sig,
                markersize=3 if K > 40 else 4,
                linewidth=1.3,
                label=labels.get(name, name),
                **style[name],
            )
        ax.set_yscale("log")
        ax.set_title(f"K = {K}")
        ax.set_xlabel("k / K" if x == "fraction" else "step index k")
        ax.grid(True, which="both", alpha=0.3)
        if outside:
            ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(fontsize=7, frameon=False)
    axes[0][0].set_ylabel(r"$\sigma_k$ (log scale; $\sigma_K = 0$ not shown)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


@dataclass
class StatePanel:
    """One panel of :func:`state_paths_figure`: the per-image grids [N, K + 1] of a
    state-dependent sampling shard, the run's distilled grid [K + 1] and (optionally) each
    image's class."""

    title: str
    sigmas: np.ndarray
    grid: np.ndarray
    classes: np.ndarray | None = None


def state_paths_figure(
    panels: Sequence[StatePanel], out: str | os.PathLike, *, title: str | None = None, shown=24
) -> Path:
    """The state-dependent sampler's per-image σ-grids (issue 17): per panel (one K), the
    5–95 % band and median of σ_k over every image, ``shown`` images' grids (evenly spaced
    in the shard) coloured by class, and the distilled time-only grid of the same run dashed.
    σ_K = 0 is left off the log axis."""
    if not panels:
        raise ReportError("state_paths_figure: no panels")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4), squeeze=False)
    for ax, p in zip(axes[0], panels, strict=True):
        s = np.asarray(p.sigmas, dtype=float)
        K = s.shape[1] - 1
        k = np.arange(K)
        lo, med, hi = np.quantile(s[:, :K], [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(k, lo, hi, color="0.8", label="5–95 % of images")
        ax.plot(k, med, color="0.4", lw=1, label="median image")
        idx = np.linspace(0, len(s) - 1, min(shown, len(s))).round().astype(int)
        for i in idx:
            c = "C0" if p.classes is None else f"C{int(p.classes[i]) % 10}"
            ax.plot(k, s[i, :K], color=c, alpha=0.55, lw=0.8, marker=".", ms=3)
        ax.plot(k, np.asarray(p.grid)[:K], "k--", lw=1.5, label="distilled (time-only)")
        if p.classes is not None:
            for c in sorted({int(p.classes[i]) for i in idx}):
                ax.plot([], [], color=f"C{c % 10}", label=f"an image of class {c}")
        ax.set_yscale("log")
        ax.set_xticks(k)
        ax.set_xlabel("step k")
        ax.set_title(p.title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(r"$\sigma_k$ (log scale; $\sigma_K = 0$ not shown)")
    axes[0][-1].legend(fontsize=6, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)


def mosaic(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """Tile uint8 [N, H, W, C] images into one [rows·(H+pad)−pad, cols·(W+pad)−pad, C] image
    (gaps and unused cells white)."""
    N, H, W, C = images.shape
    rows = math.ceil(N / cols)
    out = np.full((rows * (H + pad) - pad, cols * (W + pad) - pad, C), 255, dtype=np.uint8)
    for i in range(N):
        r, c = divmod(i, cols)
        out[r * (H + pad) : r * (H + pad) + H, c * (W + pad) : c * (W + pad) + W] = images[i]
    return out


def sample_grid(
    shards: Sequence[Shard],
    labels: dict[str, str] | None,
    out: str | os.PathLike,
    *,
    n: int = 64,
    title: str | None = None,
    panels_per_row: int = 4,
) -> Path:
    """One panel per schedule: the first ``n`` images in a ⌈√n⌉-column grid (8 × 8 for 64),
    titled with the label and the NFE from the shard's ``meta``."""
    if n < 1:
        raise ReportError(f"--n must be >= 1, got {n}")
    if not shards:
        raise ReportError("no shard files given")
    labels = dict(labels or {})
    by = {s.name: s for s in shards}
    if len(by) != len(shards):
        dup = next(s.name for s in shards if sum(t.name == s.name for t in shards) > 1)
        raise ReportError(f"schedule {dup!r} given twice")
    order = _order(shards, labels)
    cols = math.ceil(math.sqrt(n))
    ncol = min(len(order), panels_per_row)
    nrow = math.ceil(len(order) / ncol)
    plt = _pyplot()
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 3.3 * nrow), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, order, strict=False):
        s = by[name]
        m = mosaic(s.images[:n], cols)
        if m.shape[-1] == 1:
            ax.imshow(m[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(m, interpolation="nearest")
        head = labels.get(name, name)
        ax.set_title(f"{head}\nNFE {s.nfe}" if s.nfe is not None else head, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out)
