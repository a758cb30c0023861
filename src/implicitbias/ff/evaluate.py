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

import torch

from implicitbias.ff.core import FFNet, goodness, norm_scale
from implicitbias.ff.embed import LabelEmbedding

__all__ = [
    "label_goodness",
    "label_goodness_separate",
    "predict",
    "per_layer_predictions",
    "layer_activations",
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
