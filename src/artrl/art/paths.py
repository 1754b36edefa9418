"""A bank of PF-ODE paths: the environment of ART-RL on the scale-free clock.

The path x(ψ) of the ART dynamics (arXiv 2601.18681 Eq. 4) does not depend on the clock θ
(the reviewers' remark, docs/references.md §2.3): a control only decides where along its
path a trajectory stops. So the paths are integrated once, accurately, on a fine σ-grid (Heun,
as the q-profile of ART-analytic), and every rollout of every iteration reads what it needs
off them: |Q|, |F|, ‖x‖ and the running integral C(σ) = ∫_{σ_end}^{σ} |Q| dσ' of each path,
interpolated at the grid's nodes. A step from σ_a to σ_b is charged θ (C(σ_a) − C(σ_b)), |Q|
integrated along the step the path really takes; its accuracy is the fine grid's whatever the
learned grid is, so a grid cannot lower its charge through the integrator's error
(docs/art_clock.md §3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from artrl.art.cost import advance, trapezoid
from artrl.art.dynamics import batch_norm, drift_and_q, drift_q_heun

if TYPE_CHECKING:
    from artrl.solvers import Denoiser

__all__ = ["PathBank", "fine_sigmas", "path_bank"]


def fine_sigmas(T: float, points: int, convention: str, sigma_min: float) -> np.ndarray:
    """The bank's σ-grid, descending: geometric from T to σ_min (code convention; the fixed
    last step into 0 is not learned), uniform from T to 0 (the paper's convention)."""
    if convention == "code":
        return np.geomspace(T, sigma_min, points + 1)
    if convention == "paper":
        return np.linspace(T, 0.0, points + 1)
    raise ValueError(f"convention must be paper or code, got {convention!r}")


@dataclass
class PathBank:
    """N paths on P fine noise levels, stored in ascending order of σ."""

    z: Tensor  # [P] the interpolation coordinate: log σ (code) or σ (paper), ascending
    q: Tensor  # [N, P] |Q| along each path
    f: Tensor  # [N, P] |F|
    x: Tensor  # [N, P] ‖x‖
    cum: Tensor  # [N, P] C(σ_j) = ∫_{σ_0}^{σ_j} |Q| dσ (σ_0 the lowest fine level)
    log: bool  # code convention: z = log σ and q, f, x interpolated geometrically
    r: Tensor | None = None  # [N, P] |R̃|, Heun's local-error coefficient (heun=True)
    cum_r: Tensor | None = None  # [N, P] ∫_{σ_0}^{σ_j} |R̃| dσ

    @property
    def n(self) -> int:
        return int(self.q.shape[0])

    def _interp(self, idx: Tensor, sigma: Tensor, densities: tuple, integral: Tensor) -> list:
        """``densities`` (interpolated geometrically in the code convention) and ``integral``
        (linearly) of paths ``idx`` at noise levels ``sigma`` (both [B])."""
        zq = sigma.log() if self.log else sigma
        hi = torch.searchsorted(self.z, zq.contiguous()).clamp(1, len(self.z) - 1)
        lo = hi - 1
        w = ((zq - self.z[lo]) / (self.z[hi] - self.z[lo])).clamp(0.0, 1.0)

        def lin(v: Tensor) -> Tensor:
            return v[idx, lo] * (1 - w) + v[idx, hi] * w

        def geo(v: Tensor) -> Tensor:
            a, b = v[idx, lo].clamp_min(1e-300), v[idx, hi].clamp_min(1e-300)
            return (a.log() * (1 - w) + b.log() * w).exp()

        pick = geo if self.log else lin
        return [pick(v) for v in densities] + [lin(integral)]

    def at(self, idx: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(|Q|, |F|, ‖x‖, C) of paths ``idx`` at noise levels ``sigma`` (both [B])."""
        return tuple(self._interp(idx, sigma, (self.q, self.f, self.x), self.cum))

    def heun_at(self, idx: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """(|R̃|, ∫|R̃|dσ from the bottom) of paths ``idx`` at ``sigma`` (a bank built with
        ``heun=True``)."""
        if self.r is None:
            raise ValueError("this path bank was built without Heun's error density")
        return tuple(self._interp(idx, sigma, (self.r,), self.cum_r))


@torch.no_grad()
def path_bank(
    D: Denoiser,
    prior: Callable[[int, torch.Generator], Tensor],
    n: int,
    sigmas: np.ndarray,
    *,
    T: float,
    labels: Callable[[int, torch.Generator], Tensor] | None = None,
    seed: int = 0,
    batch: int = 512,
    s_floor: float = 1e-6,
    jvp_mode: str = "auto",
    device: str | torch.device = "cpu",
    progress: bool = False,
    heun: bool = False,
) -> PathBank:
    """Integrate ``n`` PF-ODE paths from x_T ~ ``prior`` down the descending fine grid
    ``sigmas`` (one Heun step between neighbours, Euler into σ = 0) and tabulate them;
    ``heun``: Heun's local-error coefficient |R̃| too (docs/heun_proxy.md; ~3x the cost)."""
    sig = np.asarray(sigmas, dtype=np.float64)
    if sig[0] != T or np.any(np.diff(sig) >= 0):
        raise ValueError("path_bank: the fine grid must descend from T")
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    log = bool(sig[-1] > 0)
    cols_q, cols_f, cols_x, cols_c, cols_r, cols_cr = [], [], [], [], [], []

    def r_at(x: Tensor, s: Tensor, lab) -> Tensor:
        _, _, Rt = drift_q_heun(D, x, T - s, T, lab, s_floor=s_floor, mode=jvp_mode)
        return batch_norm(Rt)

    done = 0
    from tqdm.auto import tqdm

    bar = tqdm(total=n * (len(sig) - 1), disable=not progress, desc="path bank", mininterval=2)
    while done < n:
        b = min(batch, n - done)
        x = prior(b, gen).to(dev, torch.float64)
        lab = labels(b, gen) if labels is not None else None
        s = torch.full((b,), T, dtype=torch.float64, device=dev)
        F, Q = drift_and_q(D, x, T - s, T, lab, s_floor=s_floor, mode=jvp_mode)
        q = batch_norm(Q)
        qs, fs, xs, cs = [q], [batch_norm(F)], [batch_norm(x)], [torch.zeros_like(q)]
        rs = [r_at(x, s, lab)] if heun else []
        crs = [torch.zeros_like(q)]
        for j in range(1, len(sig)):
            s_b = torch.full_like(s, float(sig[j]))
            x, F, q, integral = advance(
                D, x, s, s_b, F, q, 1, T=T, labels=lab, s_floor=s_floor, jvp_mode=jvp_mode,
                max_dlog=np.inf,
            )  # fmt: skip
            qs.append(q), fs.append(batch_norm(F)), xs.append(batch_norm(x))
            cs.append(cs[-1] + integral)  # ∫ from the top down to σ_j
            if heun:
                rs.append(r_at(x, s_b, lab))
                crs.append(crs[-1] + trapezoid(s, s_b, rs[-2], rs[-1]))
            s = s_b
            bar.update(b)
        st = torch.stack
        top = st(cs, 1)  # [b, P] descending σ: ∫_{σ_j}^{T}
        cols_q.append(st(qs, 1)), cols_f.append(st(fs, 1)), cols_x.append(st(xs, 1))
        cols_c.append(top[:, -1:] - top)  # ∫_{σ_end}^{σ_j}
        if heun:
            top_r = st(crs, 1)
            cols_r.append(st(rs, 1)), cols_cr.append(top_r[:, -1:] - top_r)
        done += b
    bar.close()
    z = torch.as_tensor(np.log(sig) if log else sig, device=dev)
    return PathBank(  # stored ascending in σ
        z=z.flip(0).contiguous(),
        q=torch.cat(cols_q).flip(1).contiguous(),
        f=torch.cat(cols_f).flip(1).contiguous(),
        x=torch.cat(cols_x).flip(1).contiguous(),
        cum=torch.cat(cols_c).flip(1).contiguous(),
        log=log,
        r=torch.cat(cols_r).flip(1).contiguous() if heun else None,
        cum_r=torch.cat(cols_cr).flip(1).contiguous() if heun else None,
    )
