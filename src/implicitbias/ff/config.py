"""``FFConfig`` and the presets of the Forward-Forward engine.

Every convention of the reference (``forward-forward.md`` §2–§3, §9) is an explicit field.
``epochs``, ``lr`` and ``batch_size`` may be left ``None``: they are then filled from the
``hparams`` table for the chosen ``algo`` (Tosato et al.'s table, §3.8), so that
``dataclasses.replace(get_preset("TOSATO_MNIST"), algo="bp")`` gets the paper's BP settings.
:func:`resolve_config` does the filling; run directories are keyed by the resolved config.

Epoch semantics: for ``algo="ff"`` (greedy, layer by layer) ``epochs`` is **per layer**; for
the other trainers it is global.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from implicitbias.errors import UserInputError

__all__ = ["FFConfig", "PRESETS", "HPARAMS", "get_preset", "resolve_config", "ALGOS"]

Algo = Literal["ff", "ff-simultaneous", "bpff", "bpff-perlayer", "bp"]
ALGOS = ("ff", "ff-simultaneous", "bpff", "bpff-perlayer", "bp")


@dataclass(frozen=True)
class FFConfig:
    """One FF / BP-FF / BP training run.

    Attributes:
        dataset: ``mnist``, ``fashion-mnist``, ``cifar10``, ``digits`` or ``mnist1d``.
        normalization: data preset, ``paper`` | ``proper`` | ``unit``.
        algo: ``ff`` (greedy per layer, paper), ``ff-simultaneous`` (detach between layers, one
            pass), ``bpff`` (backprop on the summed goodness, paper), ``bpff-perlayer`` (backprop
            on the sum of per-layer FF losses), ``bp`` (cross-entropy MLP).
        hidden: hidden widths.
        seed: base seed of every random stream.
        epochs, lr, batch_size: None = the ``hparams`` table's value for ``algo``.
        hparams: key of :data:`HPARAMS`.
        embed: label embedding ``first_pixels`` (greyscale, first K inputs), ``first_row_all_channels``
            (RGB: row 0, column k, every channel), ``one_hot_concat`` (K extra inputs) or ``auto``
            (first_pixels for 1 channel, else first_row_all_channels).
        label_value: ``batch_max`` (paper: max of the normalised train set, computed once and
            reused at test) or ``constant`` (``label_constant``, Hinton: 1).
        negatives: ``fixed`` (paper: N (image, wrong label) pairs drawn once from the N(K−1)
            combinations, never materialised), ``resample`` (same image, new uniform wrong label
            each batch), ``hard`` (wrong label ∝ a softmax predictor's probabilities, true label
            masked; ff-simultaneous / bpff only), ``hybrid`` (unsupervised, Hinton §3.2: no label
            is embedded, positives are real images and negatives m ⊙ x_a + (1 − m) ⊙ x_b for a
            random other image x_b and a blurred-and-thresholded random mask m, see
            :mod:`implicitbias.ff.negatives`; both go through the neutral label input; needs
            ``eval_rule="probe"`` and algo ff-simultaneous / bpff / bpff-perlayer).
        hybrid_blur_steps: rounds of the [1/4, 1/2, 1/4] blur of the hybrid masks (6).
        goodness: ``l2`` ‖h‖₂ (paper), ``sumsq`` Σh² (Hinton), ``meansq``, ``l1``, ``linf``.
        threshold: θ; if ``threshold_per_unit`` the threshold is θ·width (Hinton: θ = #units).
        loss: ``softplus`` = mean of softplus(θ − g⁺), softplus(g⁻ − θ); ``symba`` =
            mean softplus(−α(g⁺ − g⁻)) over the batch's (positive, negative) pairs.
        layer_norm: normalisation of every layer input (input layer included): ``l2``
            x/max(‖x‖₂, ε) (paper), ``rms`` x/(√mean x² + ε) (loeweX), ``none``.
        peer_norm: coefficient of peer normalisation (Hinton / loeweX 0.03; 0 = off).
        eval_rule: ``softmax_sum`` (paper), ``goodness_sum`` (Hinton) or ``probe`` (softmax
            predictor on neutral-label activities).
        eval_skip_first: skip hidden layer 1 in goodness_sum / probe (Hinton).
        optimizer: ``adam`` or ``sgd`` (with ``momentum``); ``weight_decay`` (L2, coupled).
        lr_schedule: ``constant`` or ``linear_cooldown`` (constant, then linear to 0 over the
            second half of each training phase; Hinton / loeweX).
        l1_activity: BP only: λ in CE + λ · mean over the batch of Σ|h| over all hidden units.
        exclude_classes: classes removed from training entirely (images never positives or
            negatives, never drawn as wrong labels); the test set keeps them.
        eval_every: evaluate on ``eval_subset`` test images every n epochs (0: end of phase).
        probe_lr: Adam learning rate of the softmax predictor (hard negatives / probe).
        data: a user dataset (image folder / tarball, ``.npz``, CSV / TSV; docs/your-data.md)
            used instead of ``dataset``; "" = the built-in ``dataset``.
        label_column: CSV / TSV label column (name or index; "" = automatic).
        test_fraction: held-out fraction of every class when ``data`` has no test split.
    """

    dataset: str = "mnist"
    normalization: Literal["paper", "proper", "unit"] = "paper"
    algo: Algo = "ff"
    hidden: tuple[int, ...] = (1000, 1000, 1000)
    seed: int = 0
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    hparams: str = "tosato_mnist"
    embed: Literal["auto", "first_pixels", "first_row_all_channels", "one_hot_concat"] = "auto"
    label_value: Literal["batch_max", "constant"] = "batch_max"
    label_constant: float = 1.0
    negatives: Literal["fixed", "resample", "hard", "hybrid"] = "fixed"
    hybrid_blur_steps: int = 6
    goodness: Literal["l2", "sumsq", "meansq", "l1", "linf"] = "l2"
    threshold: float = 3.0
    threshold_per_unit: bool = False
    loss: Literal["softplus", "symba"] = "softplus"
    symba_alpha: float = 4.0
    layer_norm: Literal["l2", "rms", "none"] = "l2"
    norm_eps: float = 1e-12
    peer_norm: float = 0.0
    peer_momentum: float = 0.9
    eval_rule: Literal["softmax_sum", "goodness_sum", "probe"] = "softmax_sum"
    eval_skip_first: bool = False
    optimizer: Literal["adam", "sgd"] = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "linear_cooldown"] = "constant"
    l1_activity: float = 0.0
    exclude_classes: tuple[int, ...] = ()
    eval_every: int = 0
    eval_subset: int = 2000
    probe_lr: float = 1e-3
    data: str = ""
    label_column: str = ""
    test_fraction: float = 0.2


#: Per-algo (lr, epochs, batch_size) defaults. Tosato: §3.8 of the reference.
HPARAMS: dict[str, dict[str, tuple[float, int, int]]] = {
    "tosato_mnist": {"ff": (0.01, 1200, 1024), "bpff": (1e-4, 300, 1024), "bp": (1e-4, 80, 2048)},
    "tosato_fmnist": {"ff": (0.01, 100, 1024), "bpff": (1e-4, 300, 1024), "bp": (1e-4, 80, 2048)},
    "tosato_cifar10": {"ff": (1e-4, 1000, 1024), "bpff": (1e-4, 200, 1024), "bp": (1e-4, 80, 2048)},
    # quick variants: a few epochs, lr raised where the paper's is too slow for a short budget
    "tosato_mnist_quick": {"ff": (0.03, 2, 256), "bpff": (1e-3, 3, 256), "bp": (1e-3, 3, 256)},
    "tosato_fmnist_quick": {"ff": (0.03, 2, 256), "bpff": (1e-3, 3, 256), "bp": (1e-3, 3, 256)},
    "tosato_cifar10_quick": {"ff": (1e-3, 1, 256), "bpff": (1e-3, 1, 256), "bp": (1e-3, 2, 256)},
    "digits_quick": {"ff": (0.01, 30, 128), "bpff": (3e-3, 40, 128), "bp": (3e-3, 30, 128)},
    "hinton": {"ff": (3e-3, 60, 256), "bpff": (3e-3, 60, 256), "bp": (1e-3, 20, 256)},
    "hinton_quick": {"ff": (3e-3, 2, 256), "bpff": (3e-3, 2, 256), "bp": (1e-3, 2, 256)},
    "hinton_sgd": {"ff": (1e-3, 100, 256), "bpff": (1e-3, 100, 256), "bp": (1e-3, 20, 256)},
    "hinton_sgd_quick": {"ff": (3e-3, 2, 256), "bpff": (3e-3, 2, 256), "bp": (1e-3, 2, 256)},
    "hinton_unsup": {"ff": (3e-3, 100, 256), "bpff": (3e-3, 100, 256), "bp": (1e-3, 20, 256)},
    "hinton_unsup_quick": {"ff": (3e-3, 2, 256), "bpff": (3e-3, 2, 256), "bp": (1e-3, 2, 256)},
    "loewe": {"ff": (1e-3, 100, 100), "bpff": (1e-3, 100, 100), "bp": (1e-3, 100, 100)},
    "loewe_quick": {"ff": (1e-3, 1, 100), "bpff": (1e-3, 1, 100), "bp": (1e-3, 1, 100)},
}


def _table_key(algo: str) -> str:
    return {"ff-simultaneous": "ff", "bpff-perlayer": "bpff"}.get(algo, algo)


def resolve_config(cfg: FFConfig) -> FFConfig:
    """Fill ``epochs``/``lr``/``batch_size`` from :data:`HPARAMS` and validate the config."""
    if cfg.hparams == "auto":
        if not cfg.hidden or None in (cfg.epochs, cfg.lr, cfg.batch_size):
            raise UserInputError("the *_AUTO presets are sized from the data: resolve them with ff.auto.resolve_for_data (train_run does)")
        return _validate(dataclasses.replace(cfg, hidden=tuple(int(h) for h in cfg.hidden),
                                             exclude_classes=tuple(sorted({int(c) for c in cfg.exclude_classes}))))
    if cfg.hparams not in HPARAMS:
        raise UserInputError(f"unknown hparams table {cfg.hparams!r} (known: {', '.join(HPARAMS)})")
    if cfg.algo not in ALGOS:
        raise UserInputError(f"unknown algo {cfg.algo!r} (use {', '.join(ALGOS)})")
    lr, epochs, bs = HPARAMS[cfg.hparams][_table_key(cfg.algo)]
    out = dataclasses.replace(
        cfg,
        lr=cfg.lr if cfg.lr is not None else lr,
        epochs=cfg.epochs if cfg.epochs is not None else epochs,
        batch_size=cfg.batch_size if cfg.batch_size is not None else bs,
        hidden=tuple(int(h) for h in cfg.hidden),
        exclude_classes=tuple(sorted({int(c) for c in cfg.exclude_classes})),
    )
    return _validate(out)


def _validate(out: FFConfig) -> FFConfig:
    if not out.hidden or min(out.hidden) < 1:
        raise UserInputError("hidden must list at least one positive width")
    if out.epochs < 0 or out.batch_size < 1 or out.lr <= 0:  # type: ignore[operator]
        raise UserInputError("epochs must be >= 0, batch_size >= 1 and lr > 0")
    if out.negatives == "hard" and out.algo in ("ff", "bp"):
        raise UserInputError("negatives=hard needs algo ff-simultaneous, bpff or bpff-perlayer")
    if out.negatives == "hybrid" and out.algo in ("ff", "bp"):
        raise UserInputError("negatives=hybrid needs algo ff-simultaneous, bpff or bpff-perlayer")
    if out.negatives == "hybrid" and out.eval_rule != "probe":
        raise UserInputError("negatives=hybrid is unsupervised (no label to score by goodness): it needs eval_rule=probe")
    if not 0.0 < out.test_fraction < 1.0:
        raise UserInputError(f"test_fraction must be in (0, 1), got {out.test_fraction}")
    if out.hybrid_blur_steps < 0:
        raise UserInputError("hybrid_blur_steps must be >= 0")
    if out.eval_rule == "probe" and out.algo in ("ff", "bp"):
        raise UserInputError("eval_rule=probe needs algo ff-simultaneous, bpff or bpff-perlayer")
    return out


_TOSATO = dict(hidden=(1000, 1000, 1000), goodness="l2", threshold=3.0, layer_norm="l2", negatives="fixed")
_AUTO = {**_TOSATO, "hidden": (), "negatives": "resample"}
_HINTON = dict(
    hidden=(2000, 2000, 2000, 2000), algo="ff-simultaneous", goodness="sumsq", threshold=1.0,
    threshold_per_unit=True, layer_norm="rms", norm_eps=1e-8, negatives="hard", peer_norm=0.03,
    label_value="constant", label_constant=1.0, eval_rule="goodness_sum", eval_skip_first=True,
    normalization="unit", lr_schedule="linear_cooldown",
)
_HINTON_UNSUP = {**_HINTON, "negatives": "hybrid", "eval_rule": "probe"}
_HINTON_SGD = {**_HINTON, "hidden": (1000, 1000, 1000), "optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-3}
_LOEWE = dict(
    hidden=(1000, 1000, 1000), algo="ff-simultaneous", goodness="sumsq", threshold=1.0,
    threshold_per_unit=True, layer_norm="rms", norm_eps=1e-8, negatives="resample", peer_norm=0.03,
    label_value="constant", label_constant=1.0, eval_rule="probe", eval_skip_first=True,
    normalization="unit", optimizer="sgd", momentum=0.9, weight_decay=3e-4, lr_schedule="linear_cooldown",
)

#: Presets. ``*_quick`` variants keep the conventions of their parent but shrink widths, epochs
#: and batch size (and raise lr) to fit ≈ 60 s on 2 CPU cores; the Tosato quick variants
#: therefore do not reach the paper's accuracy. HINTON_MNIST uses Adam (Hinton's MATLAB code:
#: SGD with smoothing 0.9, lr 0.01, weight cost 0.001) because it converged faster here.
#: HINTON_MNIST_SGD is the architecture and optimiser family of Hinton's MATLAB code
#: (784-1000-1000-1000, SGD with momentum 0.9 and weight cost 1e-3) at lr 1e-3 (lr 0.01 does not
#: learn at our loss scaling, Σh² − #units); 100 epochs: the best FF recipe measured here,
#: 1.50 % MNIST test error (docs/ff.md). Its quick variant raises lr to 3e-3 for 2 epochs.
#: HINTON_MNIST_UNSUP is Hinton's unsupervised FF (§3.2: hybrid negatives, 100 epochs, linear
#: softmax on the normalised activities of the last three of four hidden layers).
PRESETS: dict[str, FFConfig] = {
    "TOSATO_MNIST": FFConfig(dataset="mnist", hparams="tosato_mnist", **_TOSATO),
    "TOSATO_MNIST_quick": FFConfig(
        dataset="mnist", hparams="tosato_mnist_quick", **{**_TOSATO, "hidden": (500, 500, 500)}
    ),
    "TOSATO_FMNIST": FFConfig(dataset="fashion-mnist", hparams="tosato_fmnist", **_TOSATO),
    "TOSATO_FMNIST_quick": FFConfig(
        dataset="fashion-mnist", hparams="tosato_fmnist_quick", **{**_TOSATO, "hidden": (500, 500, 500)}
    ),
    "TOSATO_CIFAR10": FFConfig(
        dataset="cifar10", hparams="tosato_cifar10", **{**_TOSATO, "hidden": (3072, 3072, 3072)}
    ),
    "TOSATO_CIFAR10_quick": FFConfig(
        dataset="cifar10", hparams="tosato_cifar10_quick", **{**_TOSATO, "hidden": (500, 500, 500)}
    ),
    "HINTON_MNIST": FFConfig(dataset="mnist", hparams="hinton", **_HINTON),
    "HINTON_MNIST_quick": FFConfig(
        dataset="mnist", hparams="hinton_quick", **{**_HINTON, "hidden": (500, 500), "eval_skip_first": False}
    ),
    "HINTON_MNIST_SGD": FFConfig(dataset="mnist", hparams="hinton_sgd", **_HINTON_SGD),
    "HINTON_MNIST_SGD_quick": FFConfig(
        dataset="mnist", hparams="hinton_sgd_quick", **{**_HINTON_SGD, "hidden": (500, 500), "eval_skip_first": False}
    ),
    "HINTON_MNIST_UNSUP": FFConfig(dataset="mnist", hparams="hinton_unsup", **_HINTON_UNSUP),
    "HINTON_MNIST_UNSUP_quick": FFConfig(
        dataset="mnist", hparams="hinton_unsup_quick",
        **{**_HINTON_UNSUP, "hidden": (500, 500), "eval_skip_first": False},
    ),
    "LOEWE_MNIST": FFConfig(dataset="mnist", hparams="loewe", **_LOEWE),
    "LOEWE_MNIST_quick": FFConfig(dataset="mnist", hparams="loewe_quick", **_LOEWE),
    "DIGITS_quick": FFConfig(dataset="digits", hparams="digits_quick", **{**_TOSATO, "hidden": (256, 256)}),
    # sized from the data (widths, epochs, lr, batch: ff/auto.py); Tosato's conventions except
    # resampled wrong labels (fixed negatives give each image a single wrong label: too few on small sets)
    "FF_AUTO": FFConfig(dataset="digits", hparams="auto", algo="ff", **_AUTO),
    "BPFF_AUTO": FFConfig(dataset="digits", hparams="auto", algo="bpff", **_AUTO),
    "BP_AUTO": FFConfig(dataset="digits", hparams="auto", algo="bp", **_AUTO),
}


def get_preset(name: str) -> FFConfig:
    """The preset ``name`` (case-sensitive keys of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise UserInputError(f"unknown FF preset {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name]
