"""``implicitbias symmetry FILE.py:build --input-shape ...``: JSON, loss mode and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_cli import _main  # in-process console-script run: (exit code, stdout, stderr)

NET = '''
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))

def goodness(model, batch):
    h = model[0](batch)
    return (h ** 2).sum(-1).mean()

def notmodule():
    return 3

def boom():
    raise RuntimeError("nope")
'''


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cli_module") / "net.py"
    p.write_text(NET)
    return p


def test_json(net, capsys):
    code, out, err = _main(capsys, f"{net}:build", "--input-shape", "6", "--batch", "8", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["dim"] == 5 and res["D"] == 6 * 5 + 5 + 5 * 2 + 2 and res["mode"] == "sparse"
    assert res["groups"] == {"rescale 0": 5} and res["names"][3] == "rescale 0 unit 3"
    assert res["seconds"]["discovery"] > 0


def test_human_output_and_loss(net, capsys):
    code, out, err = _main(capsys, f"{net}:build", "--input-shape", "6")
    assert code == 0, err
    assert "symmetry algebra: dim 5" in out and "5 x rescale 0" in out
    code, out, err = _main(capsys, f"{net}:build", "--input-shape", "6", "--loss", f"{net}:goodness", "--json")
    assert code == 0, err
    res = json.loads(out)
    # sum h^2 of a linear layer: rotations of its 5 rows (so(5)); layer 2 is unused: all its maps
    assert res["groups"]["GL(5) 0.weight rows; 0.bias rows"] == 10


@pytest.mark.parametrize("args, needle", [
    (["{n}:notmodule", "--input-shape", "6"], "not a torch.nn.Module"),
    (["{n}:boom", "--input-shape", "6"], "raised RuntimeError: nope"),
    (["{n}:build", "--input-shape", "7"], "failed on the example input"),
    (["{n}:build", "--input-shape", "a,b"], "--input-shape"),
    (["{n}:build", "--input-shape", "0"], "positive"),
    (["{n}:build", "--input-shape", "6", "--batch", "0"], "--batch"),
    (["{n}:build", "--input-shape", "6", "--param", "u=3"], "not both"),
    (["{n}:build", "--input-shape", "6", "--loss", "{n}:missing"], "no function 'missing'"),
    (["{n}:build", "--loss", "{n}:goodness", "--param", "u=3"], "--loss needs"),
    (["{n}:build", "--input-shape", "6", "--mode", "magic"], "--mode"),
])
def test_bad_input_one_error_line_exit_2(net, capsys, args, needle):
    code, out, err = _main(capsys, *[a.format(n=net) for a in args])
    assert code == 2, (out, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]
