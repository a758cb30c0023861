"""Exception types shared by the library.

`UserInputError` marks bad input (a config, a CLI argument, a data file). The CLI turns
it into one clear error line and exit code 2; library code raises it instead of letting
a low-level exception escape with a traceback. `Diverged` marks a run whose numbers became
non-finite; the CLI reports it in one line with exit code 1 and the run is never marked
complete.
"""

from __future__ import annotations

from collections.abc import Sequence


class UserInputError(ValueError):
    """Bad user input: a config value, a CLI argument, a file. Reported in one line."""


class DataError(UserInputError):
    """A dataset file is missing, truncated, corrupt or fails its checksum."""


class RunExistsError(UserInputError):
    """A completed run directory exists and would be overwritten without ``force``."""


class RunLockedError(UserInputError):
    """Another process holds the lock of a run directory (a concurrent writer)."""


class ResourceError(UserInputError):
    """A requested size cannot fit (memory, number of runs); raised before allocating."""


class Diverged(RuntimeError):
    """Training produced non-finite values.

    Args:
        experiment: experiment id (or trainer name).
        step: the (logged) step at which the non-finite value was seen (None: unknown).
        chains: chain / seed indices that diverged (empty: the run as a whole).
        what: the quantities found non-finite (e.g. ``"W, V"``).
    """

    def __init__(self, experiment: str, step: int | None, chains: Sequence[int] = (), what: str = "") -> None:
        self.experiment = experiment
        self.step = None if step is None else int(step)
        self.chains = [int(c) for c in chains]
        self.what = what
        who = f"chain(s) {_short(self.chains)}" if self.chains else "the run"
        detail = f" (non-finite {what})" if what else ""
        super().__init__(
            f"{experiment}: {who} diverged{'' if step is None else f' at step {self.step}'}{detail}; "
            "lower the learning rate (--set lr=...) and rerun"
        )


def _short(ids: Sequence[int], n: int = 8) -> str:
    s = ", ".join(str(i) for i in ids[:n])
    return s + (f", … ({len(ids)} in all)" if len(ids) > n else "")
