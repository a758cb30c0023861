"""Image-folder trees (``<split>/<class>/*.jpg|png``) from a directory or a tarball.

Archives are read member by member in memory, never extracted to disk. Safety rules: a
member with an absolute path, a ``..`` component, a link or a special-file type is rejected
with :class:`~implicitbias.errors.DataError` before anything is decoded.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from implicitbias.errors import DataError

__all__ = ["read_image_tree", "check_member"]

_EXT = {".jpg", ".jpeg", ".png", ".bmp"}


def check_member(name: str, *, is_file: bool, is_dir: bool, archive: str = "") -> None:
    """Reject unsafe archive members (absolute path, ``..``, links, devices)."""
    p = PurePosixPath(name)
    if name.startswith(("/", "\\")) or p.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"unsafe member {name!r} in {archive}: absolute path")
    if ".." in p.parts or "\\" in name:
        raise DataError(f"unsafe member {name!r} in {archive}: path traversal")
    if not (is_file or is_dir):
        raise DataError(f"unsafe member {name!r} in {archive}: links and special files are not allowed")


def _split_class(parts: tuple[str, ...], split: str) -> str | None:
    """Class name if ``parts`` is ``[...]/<split>/<class>/<file>``, else None."""
    if len(parts) >= 3 and parts[-3] == split:
        return parts[-2]
    return None


def _iter_tar(path: Path, split: str) -> Iterator[tuple[str, str, bytes]]:
    try:
        with tarfile.open(path, "r:*") as tf:
            members = tf.getmembers()
            for m in members:
                check_member(m.name, is_file=m.isfile(), is_dir=m.isdir(), archive=str(path))
            for m in members:
                if not m.isfile():
                    continue
                parts = PurePosixPath(m.name).parts
                cls = _split_class(parts, split)
                if cls is None or PurePosixPath(m.name).suffix.lower() not in _EXT:
                    continue
                fh = tf.extractfile(m)
                if fh is None:  # pragma: no cover - isfile() guarantees a handle
                    continue
                yield cls, parts[-1], fh.read()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path} is a corrupt or truncated archive ({e})") from None


def _iter_dir(root: Path, split: str) -> Iterator[tuple[str, str, bytes]]:
    base = root / split
    for cdir in sorted(base.iterdir()):
        if cdir.is_symlink():
            raise DataError(f"{cdir}: symbolic links are not allowed in image trees")
        if not cdir.is_dir():
            continue
        for f in sorted(cdir.iterdir()):
            if f.is_symlink():
                raise DataError(f"{f}: symbolic links are not allowed in image trees")
            if f.is_file() and f.suffix.lower() in _EXT:
                yield cdir.name, f.name, f.read_bytes()


def read_image_tree(source: str | Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode ``<split>/<class>/<image>`` from a folder or a tarball.

    Classes are the sorted folder names (CIFAR-10: airplane ... truck); images are ordered by
    (class, file name).

    Returns:
        ``(images, labels, classes)``: uint8 ``(N, H, W, 3)``, int64 ``(N,)``, class names.

    Raises:
        DataError: unsafe or corrupt archive, undecodable image, inconsistent image sizes.
    """
    from PIL import Image, UnidentifiedImageError

    source = Path(source)
    items = list(_iter_dir(source, split) if source.is_dir() else _iter_tar(source, split))
    if not items:
        raise DataError(f"{source}: no images under '{split}/<class>/'")
    classes = sorted({c for c, _, _ in items})
    items.sort(key=lambda t: (t[0], t[1]))
    index = {c: i for i, c in enumerate(classes)}
    imgs = []
    for cls, name, blob in items:
        try:
            with Image.open(io.BytesIO(blob)) as im:
                imgs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DataError(f"{source}: cannot decode {split}/{cls}/{name} ({e})") from None
    shapes = {a.shape for a in imgs}
    if len(shapes) != 1:
        raise DataError(f"{source}: images of different sizes {sorted(shapes)[:3]}")
    labels = np.array([index[c] for c, _, _ in items], dtype=np.int64)
    return np.stack(imgs), labels, classes
