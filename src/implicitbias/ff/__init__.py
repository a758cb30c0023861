"""Forward-Forward engine: FF (greedy / simultaneous), BP/FF and BP trainers, batched
all-label evaluation, presets and resumable run directories.

>>> cfg = get_preset("DIGITS_quick")                       # doctest: +SKIP
>>> run = train_run(cfg, out_root="runs")                   # doctest: +SKIP
>>> run.read_json("summary")["test_acc"]                    # doctest: +SKIP
"""

from implicitbias.ff.config import ALGOS, HPARAMS, PRESETS, FFConfig, get_preset, resolve_config
from implicitbias.ff.core import FFNet, ff_loss, goodness, normalize_rows
from implicitbias.ff.embed import LabelEmbedding, make_embedding
from implicitbias.ff.evaluate import label_goodness, label_goodness_separate, predict
from implicitbias.ff.run import build_trainer, train_run
from implicitbias.ff.trainer import Callback, Trainer, TrainingDiverged

__all__ = [
    "FFConfig",
    "PRESETS",
    "HPARAMS",
    "ALGOS",
    "get_preset",
    "resolve_config",
    "train_run",
    "build_trainer",
    "Trainer",
    "Callback",
    "TrainingDiverged",
    "FFNet",
    "ff_loss",
    "goodness",
    "normalize_rows",
    "LabelEmbedding",
    "make_embedding",
    "label_goodness",
    "label_goodness_separate",
    "predict",
]
