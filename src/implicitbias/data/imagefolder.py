"""A user's image folder (``train/<class>/*``, optional ``test/<class>/*``) from a directory or tarball.

Differences from :func:`implicitbias.data.images.read_image_tree` (the CIFAR-10 reader), whose
archive-member checks (:func:`~implicitbias.data.images.check_member`: absolute paths, ``..``,
links) are reused: grey images stay one channel, a file in a class folder that is not a
PNG/JPEG/BMP image is an error (hidden files are skipped), and an empty class folder or
split is an error. Archives are read in memory, never extracted.

Images are returned channel-first uint8 ``(N, C, H, W)`` with ``C = 1`` when every image is
greyscale (mode ``L``/``1``/``I;16``/``LA`` or RGB with equal channels) and 3 otherwise.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

from implicitbias.data.images import check_member
from implicitbias.errors import DataError

__all__ = ["read_image_folder", "has_split", "IMAGE_EXT", "tree_checksum"]

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
#: one (split, class, file name, reader) per image; the reader returns the file's bytes
Entry = tuple[str, str, str, Callable[[], bytes]]


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__MACOSX")


def _dir_entries(root: Path) -> list[Entry]:
    out: list[Entry] = []
    for sdir in sorted(root.iterdir()):
        if sdir.is_symlink():
            raise DataError(f"{sdir}: symbolic links are not allowed in image folders")
        if not sdir.is_dir() or sdir.name not in ("train", "test"):
            continue
        for cdir in sorted(sdir.iterdir()):
            if _hidden(cdir.name):
                continue
            if cdir.is_symlink():
                raise DataError(f"{cdir}: symbolic links are not allowed in image folders")
            if not cdir.is_dir():
                raise DataError(f"{cdir}: expected class folders under {sdir.name}/, found a file")
            files = [f for f in sorted(cdir.iterdir()) if not _hidden(f.name)]
            if not files:
                raise DataError(f"{cdir}: empty class folder")
            for f in files:
                if f.is_symlink() or not f.is_file():
                    raise DataError(f"{f}: links and folders are not allowed inside a class folder")
                out.append((sdir.name, cdir.name, f.name, f.read_bytes))
    return out


def _tar_entries(path: Path) -> list[Entry]:
    try:
        tf = tarfile.open(path, "r:*")
        members = tf.getmembers()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path} is not a readable tar archive ({e})") from None
    for m in members:
        check_member(m.name, is_file=m.isfile(), is_dir=m.isdir(), archive=str(path))
    out: list[Entry] = []
    for m in members:
        parts = PurePosixPath(m.name).parts
        if not m.isfile() or any(_hidden(p) for p in parts):
            continue
        # the tree may sit under one top folder: <top>/train/<class>/<file>
        if len(parts) < 3 or parts[-3] not in ("train", "test") or len(parts) > 4:
            continue

        def read(m: tarfile.TarInfo = m) -> bytes:
            fh = tf.extractfile(m)
            if fh is None:  # pragma: no cover - isfile() guarantees a handle
                raise DataError(f"{path}: cannot read member {m.name}")
            return fh.read()

        out.append((parts[-3], parts[-2], parts[-1], read))
    return out


def _entries(source: Path) -> list[Entry]:
    if source.is_dir():
        return _dir_entries(source)
    if source.is_file() and tarfile.is_tarfile(source):
        return _tar_entries(source)
    raise DataError(f"{source}: neither an image folder nor a tar archive")


def has_split(source: str | Path, split: str) -> bool:
    """Whether ``source`` holds any ``<split>/<class>/<file>`` entry."""
    return any(s == split for s, _, _, _ in _entries(Path(source)))


def tree_checksum(entries: list[Entry]) -> str:
    """sha256 over the sorted ``split/class/file`` names and their bytes."""
    import hashlib

    h = hashlib.sha256()
    for s, c, n, read in sorted(entries, key=lambda e: e[:3]):
        h.update(f"{s}/{c}/{n}\0".encode())
        try:
            h.update(hashlib.sha256(read()).digest())
        except (OSError, tarfile.TarError) as e:
            raise DataError(f"cannot read {s}/{c}/{n} ({e})") from None
    return h.hexdigest()


def _decode(blob: bytes, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(blob)) as im:
            if im.mode in _GREY_MODES:
                a = np.asarray(im.convert("L"), dtype=np.uint8)[None]
            else:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
                if (a[0] == a[1]).all() and (a[1] == a[2]).all():
                    a = a[:1]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot decode image {where} ({e})") from None
    return a


def read_image_folder(
    source: str | Path, check_bytes: Callable[[int, int], None] | None = None
) -> tuple[dict[str, tuple[np.ndarray, list[str]]], list[str], str]:
    """Decode every split of an image folder or tarball.

    Args:
        source: folder or tarball with ``train/<class>/*`` and optionally ``test/<class>/*``.
        check_bytes: called as ``check_bytes(n_images, pixels_per_image)`` after the first
            image is decoded and before the rest (the memory guard of the caller).

    Returns:
        ``({split: (images uint8 (N, C, H, W), class name per image)}, sorted class names,
        checksum)``. Images are ordered by (class, file name).

    Raises:
        DataError: no ``train/`` split, an empty class folder, a non-image or undecodable
            file, images of different sizes, unsafe archive members.
    """
    source = Path(source)
    entries = _entries(source)
    for s, c, n, _ in entries:
        if PurePosixPath(n).suffix.lower() not in IMAGE_EXT:
            raise DataError(f"{source}: {s}/{c}/{n} is not a PNG/JPEG/BMP image")
    if not any(s == "train" for s, *_ in entries):
        raise DataError(f"{source}: no images under train/<class>/ (expected train/<class>/*.png|jpg)")
    entries.sort(key=lambda e: e[:3])
    splits: dict[str, tuple[np.ndarray, list[str]]] = {}
    shape0: tuple[int, ...] | None = None
    for split in ("train", "test"):
        items = [e for e in entries if e[0] == split]
        if not items:
            continue
        imgs: list[np.ndarray] = []
        for s, c, n, read in items:
            try:
                blob = read()
            except (OSError, tarfile.TarError) as e:
                raise DataError(f"cannot read {s}/{c}/{n} in {source} ({e})") from None
            a = _decode(blob, f"{s}/{c}/{n} in {source}")
            if shape0 is None:
                shape0 = a.shape[1:]
                if check_bytes is not None:
                    check_bytes(len(entries), 3 * a.shape[1] * a.shape[2])
            if a.shape[1:] != shape0:
                raise DataError(
                    f"{source}: images of different sizes: {s}/{c}/{n} is {a.shape[2]}x{a.shape[1]}, "
                    f"the first image is {shape0[1]}x{shape0[0]} (resize them to one size)"
                )
            imgs.append(a)
        channels = 1 if all(a.shape[0] == 1 for a in imgs) else 3
        full = [np.repeat(a, 3, axis=0) if a.shape[0] != channels else a for a in imgs]
        splits[split] = (np.stack(full), [c for _, c, _, _ in items])
    if "test" in splits and splits["test"][0].shape[1] != splits["train"][0].shape[1]:
        c = 3  # one split grey, the other colour: promote both to RGB
        splits = {k: (np.repeat(x, c, axis=1) if x.shape[1] == 1 else x, n) for k, (x, n) in splits.items()}
    classes = sorted({c for _, c, _, _ in entries})
    return splits, classes, tree_checksum(entries)
