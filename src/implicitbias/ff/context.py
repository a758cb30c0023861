"""``TrainContext``: what every training algorithm, negative sampler and evaluation shares.

One context per run: the training set (classes in ``exclude_classes`` removed), the label
embedding, the network, the wrong-label table, the optional softmax predictor and the random
streams. Every random draw comes from ``torch_generator(cfg.seed, *keys)`` (no hidden RNG
state), so a run resumed from a checkpoint replays the uninterrupted run exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from implicitbias.errors import UserInputError
from implicitbias.ff.config import FFConfig
from implicitbias.ff.core import FFNet
from implicitbias.ff.embed import LabelEmbedding, make_embedding
from implicitbias.ff.predictor import Predictor
from implicitbias.seeding import torch_generator

__all__ = ["TrainContext", "build_context"]


@dataclass(eq=False)
class TrainContext:
    """Shared training state (see module docstring).

    Attributes:
        cfg: the resolved config.
        device: torch device of every tensor below.
        x, y: training images ``(N, D)`` float32 (normalised) and labels ``(N,)`` int64.
        shape: image shape ``(C, H, W)`` (of the hybrid masks).
        num_classes: K.
        emb: label embedding (``dim_out`` inputs of layer 1).
        net: the network (BP: with a linear head, no normalisation).
        wrong_table: ``(K, m)`` int64, row y = the allowed wrong labels of class y (seen classes
            except y; m = #seen − 1).
        predictor: the softmax predictor (hard negatives or ``eval_rule="probe"``), else None.
    """

    cfg: FFConfig
    device: torch.device
    x: torch.Tensor
    y: torch.Tensor
    shape: tuple[int, int, int]
    num_classes: int
    emb: LabelEmbedding
    net: FFNet
    wrong_table: torch.Tensor
    predictor: Predictor | None

    @property
    def skip(self) -> int:
        """Leading hidden layers left out of ``goodness_sum`` / the probe (1 with ``eval_skip_first``)."""
        return 1 if (self.cfg.eval_skip_first and len(self.cfg.hidden) > 1) else 0

    @property
    def n(self) -> int:
        """Number of training images N."""
        return int(self.x.shape[0])

    def gen(self, *keys: object) -> torch.Generator:
        """The generator of the random stream ``keys`` (on the context's device)."""
        return torch_generator(self.cfg.seed, *keys, device=self.device)

    def theta(self, width: int) -> float:
        """Threshold θ of a layer of ``width`` units (θ·width if ``threshold_per_unit``)."""
        return self.cfg.threshold * width if self.cfg.threshold_per_unit else self.cfg.threshold

    def wrong_uniform(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """A uniform allowed wrong label for each label in ``y`` ``(B,)``."""
        r = torch.randint(0, self.wrong_table.shape[1], y.shape, generator=g, device=self.device)
        return self.wrong_table[y, r]

    def embed_into(self, out: torch.Tensor, img: torch.Tensor, lab: torch.Tensor) -> None:
        """``out`` ``(B, dim_out)`` ← embed(x[img], lab) without temporaries (same values as ``emb.embed``)."""
        e, d = self.emb, self.x.shape[1]
        if e.dim_out == d:
            torch.index_select(self.x, 0, img, out=out)
        else:
            torch.index_select(self.x, 0, img, out=out[:, :d])
            out[:, d:] = 0.0
        out[:, e.slots.reshape(-1)] = 0.0
        rows = torch.arange(out.shape[0], device=out.device).unsqueeze(1)
        out[rows, e.slots[lab]] = e.value


def build_context(
    cfg: FFConfig, x_train: torch.Tensor, y_train: torch.Tensor, shape: tuple[int, int, int], num_classes: int, device: torch.device
) -> TrainContext:
    """The context of a resolved config (network initialised from the stream ``"init"``).

    Raises:
        UserInputError: fewer than two classes remain after ``exclude_classes``.
    """
    seen = [c for c in range(num_classes) if c not in cfg.exclude_classes]
    if len(seen) < 2:
        raise UserInputError("at least two classes must remain after exclude_classes")
    keep = torch.isin(y_train, torch.tensor(seen, device=y_train.device))
    if bool(keep.all()):  # no copy of the training set when nothing is held out
        x, y = x_train.contiguous(), y_train.contiguous()
    else:
        x, y = x_train[keep].contiguous(), y_train[keep].contiguous()
    bp = cfg.algo == "bp"
    value = float(x.max()) if cfg.label_value == "batch_max" else float(cfg.label_constant)
    emb = make_embedding(cfg.embed, shape, num_classes, value).to(device)
    dims = [x.shape[1] if bp else emb.dim_out, *cfg.hidden]
    net = FFNet(dims, "none" if bp else cfg.layer_norm, cfg.norm_eps, torch_generator(cfg.seed, "init"), num_classes if bp else None)
    seen_t = torch.tensor(seen)
    wrong_table = torch.stack(
        [seen_t[seen_t != c] if c in seen else seen_t[: len(seen) - 1] for c in range(num_classes)]
    ).to(device)
    predictor = None
    if not bp and (cfg.negatives == "hard" or cfg.eval_rule == "probe"):
        skip = 1 if (cfg.eval_skip_first and len(cfg.hidden) > 1) else 0  # == TrainContext.skip
        predictor = Predictor(sum(cfg.hidden[skip:]), num_classes, skip, cfg.probe_lr, device)
    shape3 = (int(shape[0]), int(shape[1]), int(shape[2]))
    return TrainContext(cfg, device, x, y, shape3, num_classes, emb, net.to(device), wrong_table, predictor)
