"""Evaluation: goodness of every label in one batched pass, prediction rules, accuracies.

``label_goodness`` returns G ∈ R^{N×K×L}, G[n, k, l] = goodness of layer l for image n with
label k. Layer 1 is computed once per image (reference §9.2): with c label slots per label
(one per channel) and label value v,

    N(embed(x, k)) = s · embed(x, k),     s = scale(‖clear(x)‖² + c·v²)   (label independent)
    z_1(k) = s · (W_1 clear(x)) + s · v · Σ_{j∈S_k} W_1[:, j] + b_1,

one (B, D)×(D, H) product plus K column additions instead of K products; layers ≥ 2 run on the
(B·K, H) batch. Prediction rules on G (``skip`` = number of leading layers ignored):

* ``softmax_sum`` (paper): argmax_k Σ_l softmax_k(G[:, :, l]);
* ``goodness_sum`` (Hinton): argmax_k Σ_l G[:, :, l].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from implicitbias.ff.core import FFNet, goodness, norm_scale
from implicitbias.ff.embed import LabelEmbedding

if TYPE_CHECKING:
    from implicitbias.ff.context import TrainContext

__all__ = [
    "label_goodness",
    "label_goodness_separate",
    "predict",
    "per_layer_predictions",
    "layer_activations",
    "ridge_probe_accuracy",
    "evaluate_model",
]


@torch.inference_mode()
def label_goodness(
    net: FFNet, emb: LabelEmbedding, x: torch.Tensor, kind: str, chunk: int = 400
) -> torch.Tensor:
    """G (N, K, L) for all K labels in one batched pass (layer 1 shared).

    ``chunk`` images (chunk·K rows) at a time: small enough for the activations to stay in
    the CPU cache, large enough for efficient matrix products.
    """
    K, L = emb.num_labels, len(net.layers)
    w1, b1 = net.layers[0].weight, net.layers[0].bias
    colsum = w1[:, emb.slots].sum(-1).T  # (K, H): Σ_{j∈S_k} W_1[:, j]
    c = emb.slots.shape[1]
    out = torch.empty(x.shape[0], K, L, dtype=torch.float32, device=x.device)
    # two reused (chunk·K, H) workspaces (h in ws[0], the product h Wᵀ in ws[1]): fresh large CPU tensors
    # every chunk would cost page faults comparable to the products themselves
    wmax = max(lin.weight.shape[0] for lin in net.layers)
    size = min(chunk, x.shape[0]) * K * wmax
    ws = (torch.empty(size, device=x.device), torch.empty(size, device=x.device))
    for s in range(0, x.shape[0], chunk):
        xc = emb.cleared(x[s : s + chunk])
        B = xc.shape[0]
        sq = xc.pow(2).sum(1) + c * emb.value**2
        scale = norm_scale(sq, xc.shape[1], net.norm, net.eps).unsqueeze(1)  # (B, 1)
        base = torch.addcmul(b1, xc @ w1.T, scale)  # s·W_1 clear(x) + b_1, (B, H)
        H1 = base.shape[1]
        z1 = ws[0][: B * K * H1].view(B, K, H1)
        torch.addcmul(base.unsqueeze(1), (emb.value * scale).unsqueeze(2), colsum.unsqueeze(0), out=z1)  # (B, K, H)
        h = z1.relu_().view(B * K, H1)
        for li in range(L):
            if kind in ("l2", "sumsq", "meansq"):  # one pass gives both goodness and next scale
                sq = torch.linalg.vector_norm(h, dim=1).square_()
                g = {"l2": sq.sqrt(), "sumsq": sq, "meansq": sq / h.shape[1]}[kind]
            else:
                g, sq = goodness(h, kind), None
            out[s : s + B, :, li] = g.view(B, K)
            if li + 1 < L:  # N(h) W^T = s·(h W^T): scale the product instead of h
                if sq is None:
                    sq = torch.linalg.vector_norm(h, dim=1).square_()
                sc = norm_scale(sq, h.shape[1], net.norm, net.eps).unsqueeze(1)
                lin = net.layers[li + 1]
                Hn = lin.weight.shape[0]
                prod = torch.mm(h, lin.weight.T, out=ws[1][: B * K * Hn].view(B * K, Hn))
                h = torch.addcmul(lin.bias, prod, sc, out=ws[0][: B * K * Hn].view(B * K, Hn)).relu_()
    return out


def label_goodness_separate(net: FFNet, emb: LabelEmbedding, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Reference/baseline: K separate single-label passes, autograd left on (as the paper's code)."""
    K, L = emb.num_labels, len(net.layers)
    out = torch.empty(x.shape[0], K, L, device=x.device)
    for k in range(K):
        y = torch.full((x.shape[0],), k, dtype=torch.long, device=x.device)
        hs = net.forward_all(emb.embed(x, y))
        for li in range(L):
            out[:, k, li] = goodness(hs[li], kind).detach()
    return out


def predict(G: torch.Tensor, rule: str = "softmax_sum", skip: int = 0) -> torch.Tensor:
    """Predicted labels ``(N,)`` from G (N, K, L) by ``rule`` over layers ``skip..L−1``."""
    g = G[:, :, skip:] if skip < G.shape[2] else G[:, :, -1:]
    if rule == "softmax_sum":
        return torch.softmax(g, dim=1).sum(2).argmax(1)
    if rule == "goodness_sum":
        return g.sum(2).argmax(1)
    raise ValueError(f"unknown prediction rule {rule!r}")


def per_layer_predictions(G: torch.Tensor) -> torch.Tensor:
    """``(L, N)``: argmax over labels of each layer's goodness."""
    return G.argmax(1).T


@torch.inference_mode()
def layer_activations(net: FFNet, x: torch.Tensor, chunk: int = 2000, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Hidden activities ``[h_1, ..., h_L]`` (each (N, H), ``dtype``) of already-embedded inputs."""
    parts: list[list[torch.Tensor]] = [[] for _ in net.layers]
    for s in range(0, x.shape[0], chunk):
        for li, h in enumerate(net.forward_all(x[s : s + chunk])):
            parts[li].append(h.to(dtype))
    return [torch.cat(p) for p in parts]


def ridge_probe_accuracy(
    h_train: torch.Tensor, y_train: torch.Tensor, h_test: torch.Tensor, y_test: torch.Tensor, num_classes: int, lam: float = 1e-3
) -> float:
    """Accuracy of a ridge-regression probe onto one-hot labels (closed form).

    W = (XᵀX + λ·tr(XᵀX)/d·I)⁻¹ XᵀY with X = [h, 1] (N, d), Y one-hot (N, K); predict argmax XW.
    Used for BP's per-layer accuracy (BP has no per-layer goodness).
    """
    def aug(h: torch.Tensor) -> torch.Tensor:
        h = h.double()
        return torch.cat([h, torch.ones(h.shape[0], 1, dtype=h.dtype, device=h.device)], 1)

    X, Xt = aug(h_train), aug(h_test)
    Y = torch.nn.functional.one_hot(y_train, num_classes).double()
    A = X.T @ X
    A += lam * A.diagonal().mean() * torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    W = torch.linalg.solve(A, X.T @ Y)
    return float(((Xt @ W).argmax(1) == y_test).float().mean())


def _ridge_per_layer(
    ctx: TrainContext, embed: Callable[[torch.Tensor], torch.Tensor], hs_test: list[torch.Tensor], y: torch.Tensor
) -> list[float]:
    """Per-layer accuracy of ridge probes fitted on ≤ 10k training activities
    ``net(embed(x_train))`` (subset from the stream ``"probe"``), scored on ``hs_test``."""
    sub = torch.randperm(ctx.n, generator=ctx.gen("probe"), device=ctx.device)[:10000]
    htr = ctx.net.forward_all(embed(ctx.x[sub]))
    return [ridge_probe_accuracy(a, ctx.y[sub], b, y, ctx.num_classes) for a, b in zip(htr, hs_test, strict=True)]


def _probe_predict(ctx: TrainContext, x: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
    """Labels ``(N,)`` from the softmax predictor on neutral-label activities, chunk by chunk."""
    chunks = (ctx.emb.neutral(x[s : s + chunk]) for s in range(0, x.shape[0], chunk))
    return ctx.predictor.predict(ctx.net, chunks)  # type: ignore[union-attr]


@torch.inference_mode()
def evaluate_model(
    ctx: TrainContext, supervised: bool, x: torch.Tensor, y: torch.Tensor, layers: int | None = None, probe: bool = False
) -> dict[str, Any]:
    """Accuracy by the configured rule plus every other rule and per-layer accuracies.

    Three kinds of run: BP (the network has a head: its logits; with ``probe`` per-layer ridge
    probes), unsupervised FF (``supervised`` False, hybrid negatives: the jointly trained softmax
    probe on neutral activities; with ``probe`` per-layer ridge probes) and label-scored FF (every
    rule on G of :func:`label_goodness`, the softmax probe where one is trained).

    Args:
        ctx: the training context (network, embedding, predictor, training data for probes).
        supervised: the run embeds labels.
        x, y: evaluation images ``(N, D)`` (normalised, not embedded) and labels ``(N,)``.
        layers: use only the first ``layers`` hidden layers (greedy FF mid-training).
        probe: fit the per-layer ridge probes (BP and unsupervised runs).

    Returns:
        ``acc`` (configured rule), ``pred`` ``(N,)``, ``per_layer_acc`` and the ``acc_*`` of the
        other rules; label-scored runs also ``goodness`` G ``(N, K, L)``.
    """
    cfg, net = ctx.cfg, ctx.net
    if net.head is not None:
        hs = net.forward_all(x)
        pred = net.head(hs[-1]).argmax(1)
        per_layer = _ridge_per_layer(ctx, lambda v: v, hs, y) if probe else []
        return {"acc": float((pred == y).float().mean()), "pred": pred, "per_layer_acc": per_layer}
    if not supervised:  # no label to score; probes on neutral activities
        pred = _probe_predict(ctx, x)
        per_layer = _ridge_per_layer(ctx, ctx.emb.neutral, net.forward_all(ctx.emb.neutral(x)), y) if probe else []
        acc = float((pred == y).float().mean())
        return {"acc": acc, "acc_probe": acc, "pred": pred, "per_layer_acc": per_layer}
    G = label_goodness(net, ctx.emb, x, cfg.goodness)
    if layers is not None:
        G = G[:, :, :layers]
    skip = ctx.skip if G.shape[2] > ctx.skip else 0
    res: dict[str, Any] = {
        "acc_softmax_sum": float((predict(G, "softmax_sum") == y).float().mean()),
        "acc_goodness_sum": float((predict(G, "goodness_sum") == y).float().mean()),
        "acc_goodness_sum_skip1": float((predict(G, "goodness_sum", skip=1) == y).float().mean()),
        "per_layer_acc": [float(a) for a in (per_layer_predictions(G) == y).float().mean(1)],
    }
    probe_pred = _probe_predict(ctx, x) if ctx.predictor is not None else None
    if probe_pred is not None:
        res["acc_probe"] = float((probe_pred == y).float().mean())
    if cfg.eval_rule == "probe":
        pred = probe_pred
    else:
        pred = predict(G, cfg.eval_rule, skip=skip if cfg.eval_rule == "goodness_sum" else 0)
    res.update(acc=float((pred == y).float().mean()), pred=pred, goodness=G)
    return res
