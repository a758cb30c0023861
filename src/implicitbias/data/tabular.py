"""Readers for a user's tabular and array files: CSV / TSV and ``.npz`` (never unpickled).

CSV / TSV: the delimiter is a tab for ``.tsv``/``.tab`` and sniffed among ``, ; tab`` otherwise.
A header is recognised when a cell of the first row is not a number in a column whose other
cells all are. The label column is ``label_column`` (a header name or a 0-based index; a
negative index counts from the end) or, by default, the column named ``label``, ``class``,
``target``, ``y``, ``category`` or ``species``, else the first column whose cells are mostly
not numbers, else the first column. A label column with more distinct values than half its rows
is refused (it looks like a feature: choose the column explicitly). Every other column must be numbers.

``.npz``: ``x_train, y_train, x_test, y_test`` or ``x, y`` with an optional ``split`` array
(``0``/``1``, ``False``/``True`` or ``"train"``/``"test"``, 1 = test) and optional ``classes``
(unicode names, label order). Shapes are read from the headers before any data is loaded so that
the memory guard can refuse a file before it is read.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from implicitbias.errors import DataError, UserInputError

__all__ = ["read_csv", "read_npz", "npz_shapes"]

CheckBytes = Callable[[int, int], None]
#: header names taken as the label column when no ``label_column`` is given
LABEL_NAMES = {"label", "labels", "class", "classes", "target", "y", "category", "species"}


def _is_num(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if path.suffix.lower() in (".tsv", ".tab"):
        delim = "\t"
    else:
        try:
            delim = csv.Sniffer().sniff(text[:8192], delimiters=",;\t").delimiter
        except csv.Error:
            delim = ","
    rows = []
    for lineno, row in enumerate(csv.reader(text.splitlines(), delimiter=delim), start=1):
        if not row or all(not c.strip() for c in row):
            continue
        rows.append([c.strip() for c in row] + [str(lineno)])  # line number kept as the last cell
    if not rows:
        raise DataError(f"{path}: empty file")
    width = len(rows[0]) - 1
    for r in rows:
        if len(r) - 1 != width:
            raise DataError(f"{path}: line {r[-1]} has {len(r) - 1} fields, the first row has {width} (ragged rows)")
    if width < 2:
        raise DataError(f"{path}: needs a label column and at least one feature column (found {width} column)")
    return rows


def _label_index(label_column: str, header: list[str] | None, columns: list[list[str]], path: Path) -> int:
    width = len(columns)
    if label_column:
        if header is not None and label_column in header:
            return header.index(label_column)
        try:
            i = int(label_column)
        except ValueError:
            names = f"the header has {', '.join(header)}" if header else "the file has no header"
            raise UserInputError(f"{path}: no label column {label_column!r} ({names})") from None
        if not -width <= i < width:
            raise UserInputError(f"{path}: label column index {i} outside 0..{width - 1}")
        return i % width
    if header is not None:
        for j, name in enumerate(header):
            if name.strip().lower() in LABEL_NAMES:
                return j
    for j, col in enumerate(columns):  # mostly words: a label column (a stray word is a bad feature)
        if sum(not _is_num(c) for c in col) * 2 > len(col):
            return j
    return 0


def read_csv(
    path: str | Path, label_column: str = "", check_bytes: CheckBytes | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a CSV / TSV table.

    Returns:
        ``(features float64 (N, D), labels as strings (N,), feature names)``.

    Raises:
        DataError: ragged rows, a non-numeric or empty feature cell, an empty file.
        UserInputError: an unknown label column.
    """
    path = Path(path)
    if check_bytes is not None:  # estimate from the first 64 KiB before the file is read
        try:
            with path.open("rb") as fh:
                head = fh.read(1 << 16).splitlines()[:-1] or [b""]
        except OSError as e:
            raise DataError(f"{path}: cannot read ({e.strerror})") from None
        fields = max(len(line.replace(b"\t", b",").replace(b";", b",").split(b",")) for line in head)
        avg = max(1.0, sum(len(line) + 1 for line in head) / len(head))
        check_bytes(int(path.stat().st_size / avg), max(1, fields - 1))
    rows = _rows(path)
    body = rows
    header: list[str] | None = None
    first, rest = rows[0][:-1], rows[1:]
    if rest:
        numeric_rest = [all(_is_num(r[j]) for r in rest) for j in range(len(first))]
        if any(nr and not _is_num(c) for c, nr in zip(first, numeric_rest, strict=True)) or (
            label_column and not label_column.lstrip("-").isdigit() and label_column in first
        ):
            header, body = first, rest
    if check_bytes is not None:
        check_bytes(len(body), len(body[0]) - 2)
    columns = [[r[j] for r in body] for j in range(len(body[0]) - 1)]
    li = _label_index(label_column, header, columns, path)
    feats = [j for j in range(len(columns)) if j != li]
    names = [header[j] if header else f"x{j}" for j in feats]
    try:
        x = np.array([[r[j] for j in feats] for r in body], dtype=np.float64)
    except ValueError:
        for r in body:
            for j in feats:
                if not _is_num(r[j]):
                    col = repr(header[j]) if header else str(j)
                    what = "an empty cell" if r[j] == "" else f"{r[j]!r} is not a number"
                    raise DataError(f"{path}: line {r[-1]}, column {col}: {what} (features must be numeric)") from None
        raise  # pragma: no cover - the loop above finds the culprit
    labels = np.array(columns[li])
    n_cls = len(set(columns[li]))
    if n_cls * 2 > len(labels):
        col = repr(header[li]) if header else str(li)
        raise DataError(f"{path}: label column {col} has {n_cls} distinct values in {len(labels)} rows; it looks like a feature (choose the label with --label-column)")
    return x, labels, names


def npz_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """``{name: (shape, dtype)}`` of every array of an ``.npz`` from the ``.npy`` headers only."""
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                out[info.filename[:-4]] = (tuple(int(s) for s in shape), np.dtype(dtype))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    return out


def read_npz(path: str | Path, check_bytes: CheckBytes | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (``allow_pickle=False``), checked for size before loading.

    Raises:
        DataError: not an npz, object arrays (pickle), missing keys.
    """
    path = Path(path)
    shapes = npz_shapes(path)
    keys = set(shapes)
    if {"x_train", "y_train", "x_test", "y_test"} <= keys:
        xs = ("x_train", "x_test")
    elif {"x", "y"} <= keys:
        xs = ("x",)
    else:
        raise DataError(f"{path}: expected arrays x_train, y_train, x_test, y_test or x, y (found {', '.join(sorted(keys)) or 'none'})")
    for k, (_, dt) in shapes.items():
        if dt.hasobject:
            raise DataError(f"{path}: array {k!r} holds Python objects; pickled arrays are never loaded (save plain numeric/str arrays)")
    if check_bytes is not None:
        n = sum(shapes[k][0][0] if shapes[k][0] else 0 for k in xs)
        per = int(np.prod(shapes[xs[0]][0][1:])) if len(shapes[xs[0]][0]) > 1 else 1
        check_bytes(n, per)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
