"""implicitbias: how training selects a solution among the many that fit.

Two halves share one library:

* symmetry-induced implicit bias of SGD (``implicitbias.symmetry``, ``.dynamics``, ``.design``);
* Forward-Forward representations (``implicitbias.ff``, ``.analysis``).
"""

from __future__ import annotations

__version__ = "0.1.0"
