"""Exception types shared by the library.

`UserInputError` marks bad input (a config, a CLI argument, a data file). The CLI turns
it into one clear error line and exit code 2; library code raises it instead of letting
a low-level exception escape with a traceback.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad user input: a config value, a CLI argument, a file. Reported in one line."""


class DataError(UserInputError):
    """A dataset file is missing, truncated, corrupt or fails its checksum."""


class RunExistsError(UserInputError):
    """A completed run directory exists and would be overwritten without ``force``."""
