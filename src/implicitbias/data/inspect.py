"""``data inspect``: facts about a user's dataset and two plain baselines.

* :func:`inspect_data` — kind, shape, classes, counts per class and split, raw value range,
  exact duplicates between train and test (rows hashed byte for byte), checksum, split rule
  and the default label embedding;
* :func:`baselines` — test accuracy of a multinomial logistic regression and of a small MLP
  (scikit-learn, one hidden layer of 128 ReLU units, early stopping) on the same scaled
  features the FF engine sees (:meth:`UserData.tensors`).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from implicitbias.data.userdata import UserData

__all__ = ["inspect_data", "baselines", "duplicates_between"]


def _row_hashes(x: np.ndarray) -> list[bytes]:
    flat = np.ascontiguousarray(x.reshape(len(x), -1))
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in flat]


def duplicates_between(a: np.ndarray, b: np.ndarray) -> int:
    """Number of rows of ``b`` that are byte-identical to some row of ``a``."""
    seen = set(_row_hashes(a))
    return sum(h in seen for h in _row_hashes(b))


def inspect_data(ud: UserData) -> dict[str, Any]:
    """JSON-safe facts about ``ud`` (see module docstring)."""
    counts = {
        split: np.bincount(y, minlength=ud.num_classes).tolist() for split, y in (("train", ud.y_train), ("test", ud.y_test))
    }
    return {
        "source": ud.source,
        "kind": ud.kind,
        "shape": list(ud.shape) if ud.kind == "image" else [ud.dim],
        "dim": ud.dim,
        "dtype": str(ud.x_train.dtype),
        "num_classes": ud.num_classes,
        "classes": list(ud.classes),
        "n_train": int(len(ud.y_train)),
        "n_test": int(len(ud.y_test)),
        "counts": counts,
        "value_range": [float(min(ud.x_train.min(), ud.x_test.min())), float(max(ud.x_train.max(), ud.x_test.max()))],
        "duplicates_train_test": duplicates_between(ud.x_train, ud.x_test),
        "checksum": ud.checksum,
        "split": ud.split,
        "embedding": ud.embedding,
        "scaling": "per-channel standardisation of byte/255 (train statistics)"
        if ud.kind == "image"
        else "per-feature standardisation (train statistics)",
    }


def baselines(ud: UserData, seed: int = 0, normalization: str = "paper") -> dict[str, dict[str, float]]:
    """Test accuracy and fit time of logistic regression and a small MLP (scikit-learn)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x_tr, y_tr, x_te, y_te = (t.numpy() for t in ud.tensors(normalization))
    models = {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "mlp": MLPClassifier(hidden_layer_sizes=(128,), max_iter=300, early_stopping=len(y_tr) >= 200, random_state=seed),
    }
    out = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_tr, y_tr)
        out[name] = {"test_acc": float((model.predict(x_te) == y_te).mean()), "fit_s": time.perf_counter() - t0}
    return out
