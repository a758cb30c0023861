"""Hybrid negatives (Hinton's unsupervised FF): masks, blur oracle, config checks, a digits run."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from implicitbias.errors import UserInputError
from implicitbias.ff import get_preset, resolve_config, train_run
from implicitbias.ff.hybrid import blur_121, hybrid_images, hybrid_masks, hybrid_partners
from implicitbias.ff.run import build_trainer
from implicitbias.runs.atomic import load_tensors


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _hybrid_digits(**kw) -> object:
    base = dict(
        algo="ff-simultaneous",
        negatives="hybrid",
        eval_rule="probe",
        hidden=(128, 128),
        epochs=20,
        probe_lr=1e-2,
    )
    return dataclasses.replace(get_preset("DIGITS_quick"), **{**base, **kw})


def test_masks_binary_shaped_and_coherent():
    m = hybrid_masks(200, (1, 28, 28), 6, _gen(0))
    assert m.shape == (200, 784) and m.dtype == torch.float32
    assert bool(((m == 0) | (m == 1)).all())
    frac = m.mean(1)
    assert float(((frac > 0) & (frac < 1)).float().mean()) >= 0.95  # both regions present
    img = m.view(200, 28, 28)
    same = float((img[:, :, 1:] == img[:, :, :-1]).float().mean())
    bits = torch.randint(0, 2, (200, 28, 28), generator=_gen(1))
    same_iid = float((bits[:, :, 1:] == bits[:, :, :-1]).float().mean())
    assert same > 0.8 and abs(same_iid - 0.5) < 0.02, (same, same_iid)
    # RGB: one spatial mask shared by the three channels
    rgb = hybrid_masks(5, (3, 6, 7), 2, _gen(2)).view(5, 3, 6, 7)
    assert torch.equal(rgb[:, 0], rgb[:, 1]) and torch.equal(rgb[:, 0], rgb[:, 2])


def test_same_seed_same_masks():
    a = hybrid_masks(16, (1, 8, 8), 3, _gen(7))
    b = hybrid_masks(16, (1, 8, 8), 3, _gen(7))
    c = hybrid_masks(16, (1, 8, 8), 3, _gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def _blur_loop(img: list[list[float]], steps: int) -> list[list[float]]:
    """Oracle: pixel-by-pixel [1/4, 1/2, 1/4] blur, columns then rows, replicate border."""
    h, w = len(img), len(img[0])
    for _ in range(steps):
        v = [
            [
                0.25 * img[max(i - 1, 0)][j] + 0.5 * img[i][j] + 0.25 * img[min(i + 1, h - 1)][j]
                for j in range(w)
            ]
            for i in range(h)
        ]
        img = [
            [
                0.25 * v[i][max(j - 1, 0)] + 0.5 * v[i][j] + 0.25 * v[i][min(j + 1, w - 1)]
                for j in range(w)
            ]
            for i in range(h)
        ]
    return img


def test_blur_matches_loop_oracle():
    x = torch.rand(5, 7, generator=_gen(3), dtype=torch.float64)
    for steps in (0, 1, 3):
        want = torch.tensor(_blur_loop(x.tolist(), steps), dtype=torch.float64)
        torch.testing.assert_close(blur_121(x, steps), want, rtol=0, atol=1e-12)
    # batched over leading dimensions, constants preserved (replicate border)
    xb = torch.rand(2, 3, 5, 7, generator=_gen(4), dtype=torch.float64)
    torch.testing.assert_close(blur_121(xb, 2)[1, 2], blur_121(xb[1, 2], 2))
    torch.testing.assert_close(blur_121(torch.full((4, 4), 0.3), 4), torch.full((4, 4), 0.3))


def test_hybrid_pixels_come_from_the_right_image():
    xa, xb = torch.rand(6, 64, generator=_gen(5)), torch.rand(6, 64, generator=_gen(6)) + 2.0
    m = hybrid_masks(6, (1, 8, 8), 2, _gen(9))
    h = hybrid_images(xa, xb, m)
    on = m == 1
    assert torch.equal(h[on], xa[on]) and torch.equal(h[~on], xb[~on])
    idx = torch.arange(50)
    p = hybrid_partners(idx, 50, _gen(10))
    assert bool((p != idx).all()) and int(p.min()) >= 0 and int(p.max()) < 50


def test_resolve_rejects_supervised_uses():
    with pytest.raises(UserInputError, match="eval_rule=probe"):
        resolve_config(_hybrid_digits(eval_rule="goodness_sum"))
    for algo in ("ff", "bp"):
        with pytest.raises(UserInputError, match="negatives=hybrid"):
            resolve_config(_hybrid_digits(algo=algo))
    for name in ("HINTON_MNIST_UNSUP", "HINTON_MNIST_UNSUP_quick"):
        r = resolve_config(get_preset(name))
        assert r.negatives == "hybrid" and r.eval_rule == "probe"
    assert resolve_config(get_preset("HINTON_MNIST_UNSUP")).epochs == 100


@pytest.mark.parametrize("algo", ["ff-simultaneous", "bpff"])
def test_training_inputs_carry_no_label(algo, monkeypatch):
    tr, _, _ = build_trainer(
        resolve_config(_hybrid_digits(algo=algo, hidden=(32, 16))), torch.device("cpu")
    )
    tr.start_phase(0)
    seen: list[torch.Tensor] = []
    for owner, name in ((tr.algorithm, "hand_written_grad"), (tr.net, "forward_all")):
        if not hasattr(owner, name):
            continue
        real = getattr(owner, name)

        def spy(x, *a, _real=real, **k):
            seen.append(x.detach().clone())
            return _real(x, *a, **k)

        monkeypatch.setattr(owner, name, spy)
    B = 40
    tr.algorithm.step(torch.arange(B), tr.gen("epoch", 0, 0))
    inp = [x for x in seen if x.shape[0] == 2 * B]
    assert inp, "the (positives, negatives) batch was not seen"
    slots = tr.emb.slots.reshape(-1)
    v = tr.emb.value / tr.emb.num_labels
    assert bool((inp[-1][:, slots] == v).all())  # identical, label-free slots on every row
    pos, neg = inp[-1][:B], inp[-1][B:]
    torch.testing.assert_close(pos, tr.emb.neutral(tr.ctx.x[:B]))
    assert not torch.equal(pos, neg)


def test_unsupervised_digits_run(tmp_path):
    run = train_run(_hybrid_digits(), out_root=tmp_path, device="cpu")
    s = run.read_json("summary")
    m = run.metrics()
    assert s["eval_rule"] == "probe" and s["test_acc"] >= 0.7, s  # measured 0.856; chance 0.1
    assert m[-1]["loss"] < m[0]["loss"] and m[-1]["g_pos"] > m[-1]["g_neg"]
    assert "acc_softmax_sum" not in s  # no label to score: only the probes are reported
    assert s["per_layer_rule"].startswith("ridge probe") and len(s["per_layer_acc"]) == 2
    assert all(0.5 < a <= 1.0 for a in s["per_layer_acc"]), s["per_layer_acc"]


class _Kill(Exception):
    pass


def test_hybrid_resume_equals_uninterrupted(tmp_path):
    cfg = _hybrid_digits(hidden=(32, 16), epochs=3, peer_norm=0.03)
    full = train_run(cfg, out_root=tmp_path / "a", device="cpu")

    def killer(done, total, msg):
        if done == 2:
            raise _Kill

    with pytest.raises(_Kill):
        train_run(cfg, out_root=tmp_path / "b", device="cpu", progress=killer)
    resumed = train_run(cfg, out_root=tmp_path / "b", device="cpu", resume=True)
    a = load_tensors(full.path / "model.safetensors")
    b = load_tensors(resumed.path / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.read_json("summary")["test_acc"] == full.read_json("summary")["test_acc"]
