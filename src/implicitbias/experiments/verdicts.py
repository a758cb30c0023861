r"""Sample-size-honest verdicts for distances between simulated samples and predicted laws.

A fixed KS threshold means different things at different sample sizes: at n_eff ≈ 3·10³ a
distance of 0.05 is within noise, at 10⁶ it is a clear rejection. Here the threshold is the
noise floor *measured for that simulation*:

``floor = max(ks_critical(n_eff, α), D_half / 2)``

* ``ks_critical(n_eff, α) = c(α)/√n_eff`` — the level-α KS critical value at the effective
  sample size (autocorrelation-corrected, :func:`~implicitbias.dynamics.stats.effective_sample_size`);
* ``D_half`` — the KS distance between two independent halves of the chains
  (:func:`~implicitbias.dynamics.stats.split_half_ks`); ``D_half/2`` is on the scale of
  the one-sample distance of the whole, and dominates only when n_eff is overestimated.

Verdicts (:func:`law_verdict`): a law is **reproduced** when its distance is within the
floor, **differs** when it exceeds ``FACTOR ×`` floor, and is **inconclusive** in between
(more samples would decide). With α = 0.01 and FACTOR = 2 a correct law is called
"differs" with probability far below 1 %, and a wrong law is called "reproduced" only when
its true distance is below the noise of the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from implicitbias.dynamics import stats as S
from implicitbias.experiments.base import Verdict

__all__ = ["ALPHA", "FACTOR", "NoiseFloor", "noise_floor", "two_sample_floor", "law_verdict"]

#: Level of the KS critical value.
ALPHA = 0.01
#: A law "differs" when its distance exceeds FACTOR × the noise floor.
FACTOR = 2.0


@dataclass(frozen=True)
class NoiseFloor:
    """The noise floor of one simulation's KS distances.

    Attributes:
        n_eff: effective sample size (for two samples: ``n₁n₂/(n₁+n₂)``).
        alpha: level of the critical value.
        ks_critical: ``c(α)/√n_eff``.
        half_split: ``D_half / 2`` (NaN when not measured).
    """

    n_eff: float
    alpha: float
    ks_critical: float
    half_split: float = math.nan

    @property
    def threshold(self) -> float:
        """``max(ks_critical, half_split)`` (NaN parts ignored)."""
        vals = [v for v in (self.ks_critical, self.half_split) if v == v]
        return max(vals) if vals else math.nan

    def target(self, factor: float = FACTOR) -> str:
        """Target text for a claim row: the threshold, its n_eff and α, the rejection factor."""
        return (f"KS ≤ {self.threshold:.3g} (noise floor: α={self.alpha:g}, n_eff={self.n_eff:.3g}; "
                f"differs > {factor:g}×)")

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "threshold": self.threshold}


def noise_floor(series: np.ndarray, alpha: float = ALPHA, n_eff: float | None = None) -> NoiseFloor:
    """The floor of one sample set ``series (R, C, ...)`` (records × chains × pooled coordinates).

    ``n_eff`` defaults to :func:`~implicitbias.dynamics.stats.effective_sample_size` of
    ``series`` reshaped to ``(R, C·…)``.
    """
    x = np.asarray(series, dtype=float)
    if n_eff is None:
        n_eff = S.effective_sample_size(x.reshape(x.shape[0], -1))
    return NoiseFloor(float(n_eff), alpha, S.ks_critical(n_eff, alpha), 0.5 * S.split_half_ks(x))


def two_sample_floor(n_eff_a: float, n_eff_b: float, alpha: float = ALPHA) -> NoiseFloor:
    """The floor of a two-sample KS distance: ``c(α) √((n_a + n_b)/(n_a n_b))``."""
    n = n_eff_a * n_eff_b / (n_eff_a + n_eff_b) if n_eff_a > 0 and n_eff_b > 0 else math.nan
    return NoiseFloor(float(n), alpha, S.ks_critical(n, alpha))


def law_verdict(distance: float, floor: NoiseFloor, factor: float = FACTOR) -> Verdict:
    """``reproduced`` (≤ floor), ``differs`` (> factor × floor) or ``inconclusive``."""
    thr = floor.threshold
    if not (distance == distance and thr == thr):
        return "inconclusive"
    if distance <= thr:
        return "reproduced"
    return "differs" if distance > factor * thr else "inconclusive"
