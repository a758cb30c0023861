"""Presets resolve, round-trip through JSON and carry the paper's hyperparameters."""

from __future__ import annotations

import dataclasses

import pytest

from implicitbias.config import from_dict, override, to_dict
from implicitbias.errors import UserInputError
from implicitbias.ff import ALGOS, PRESETS, FFConfig, get_preset, resolve_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_resolve_and_roundtrip(name):
    for algo in ALGOS:
        cfg = dataclasses.replace(get_preset(name), algo=algo)
        if cfg.hparams == "auto":  # *_AUTO presets are sized from their data (here: digits)
            from implicitbias.ff.rundata import prepare

            cfg = prepare(cfg)[0]
        try:
            r = resolve_config(cfg)
        except UserInputError:
            assert cfg.negatives == "hard" or cfg.eval_rule == "probe"
            continue
        assert r.epochs is not None and r.lr is not None and r.batch_size is not None
        assert from_dict(FFConfig, to_dict(r)) == r


def test_tosato_table():
    r = {a: resolve_config(dataclasses.replace(get_preset("TOSATO_MNIST"), algo=a)) for a in ("ff", "bpff", "bp")}
    assert (r["ff"].lr, r["ff"].epochs, r["ff"].batch_size) == (0.01, 1200, 1024)
    assert (r["bpff"].lr, r["bpff"].epochs) == (1e-4, 300)
    assert (r["bp"].lr, r["bp"].epochs, r["bp"].batch_size) == (1e-4, 80, 2048)
    f = resolve_config(dataclasses.replace(get_preset("TOSATO_FMNIST"), algo="ff"))
    assert f.epochs == 100 and f.normalization == "paper" and f.goodness == "l2" and f.threshold == 3.0
    assert resolve_config(get_preset("TOSATO_CIFAR10")).hidden == (3072, 3072, 3072)


def test_cli_style_overrides():
    cfg = override(get_preset("DIGITS_quick"), ["epochs=5", "hidden=[10,20]", "exclude_classes=[9]", "goodness=sumsq"])
    assert cfg.epochs == 5 and cfg.hidden == (10, 20) and cfg.exclude_classes == (9,) and cfg.goodness == "sumsq"
    with pytest.raises(UserInputError):
        override(cfg, ["goodness=cube"])
