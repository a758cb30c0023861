"""Resource checks made before allocating: will a requested size fit in memory?

:func:`check_fits` compares an estimate (bytes) with the memory available now
(``psutil`` when installed, else ``os.sysconf``, else ``/proc/meminfo``) and raises
:class:`~implicitbias.errors.ResourceError` with both numbers, so a command refuses an
impossible size at once instead of being killed (or thrashing) minutes later.
"""

from __future__ import annotations

import os

from implicitbias.errors import ResourceError

__all__ = ["available_memory", "check_fits", "format_bytes"]


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now, or ``None`` if unknown."""
    try:
        import psutil  # type: ignore[import-not-found]

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'`` (binary units, up to EiB; larger numbers in scientific form)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    x = float(n)
    for u in units:
        if x < 1024 or u == units[-1]:
            return f"{x:.3g} {u}"
        x /= 1024
    return f"{x:.3g} EiB"  # pragma: no cover


def check_fits(nbytes: float, what: str, fraction: float = 0.9) -> None:
    """Raise :class:`ResourceError` if ``nbytes`` exceeds ``fraction`` of available memory.

    Args:
        nbytes: estimated peak bytes of the request.
        what: the request in words, e.g. ``"ff train with hidden=(100000000,)"``.
        fraction: share of the available memory the request may use.
    """
    avail = available_memory()
    if avail is None or nbytes <= fraction * avail:
        return
    raise ResourceError(
        f"{what} would need about {format_bytes(nbytes)} of memory; "
        f"{format_bytes(avail)} is available (choose a smaller size)"
    )
