"""Write two small datasets in the formats ``--data`` reads, for docs/your-data.md's walkthrough.

* ``<out>/letters/`` — an image folder ``train/<letter>/*.png`` and ``test/<letter>/*.png``:
  the letters A–J drawn with Pillow's built-in font at random sizes, offsets and rotations
  (±20°), blurred and with Gaussian pixel noise, 24×24 grey (``--rgb``: random ink and paper
  colours, RGB); 120 training and 30 test images per letter.
* ``<out>/wine.csv`` — scikit-learn's wine table (178 wines, 13 chemical measurements) with a
  header and a ``class`` column of cultivar names.

Run: ``python examples/make_your_data.py --out mydata`` (a few seconds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

LETTERS = "ABCDEFGHIJ"


def draw_letter(ch: str, rng: np.random.Generator, size: int = 24, rgb: bool = False) -> Image.Image:
    """One noisy, randomly placed and rotated letter."""
    big = 3 * size
    img = Image.new("L", (big, big), 0)
    font = ImageFont.load_default(size=int(rng.integers(int(1.6 * size), int(2.4 * size))))
    ImageDraw.Draw(img).text((big / 2 + rng.uniform(-6, 6), big / 2 + rng.uniform(-6, 6)), ch, fill=255, font=font, anchor="mm")
    img = img.rotate(float(rng.uniform(-20, 20)), resample=Image.BILINEAR).resize((size, size), Image.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.8))))
    a = np.asarray(img, dtype=np.float64) / 255.0
    if rgb:
        ink, paper = rng.uniform(0.5, 1.0, 3), rng.uniform(0.0, 0.4, 3)
        a = a[..., None] * ink + (1 - a[..., None]) * paper
    a = np.clip(255 * a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def write_letters(root: Path, n_train: int = 120, n_test: int = 30, rgb: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        for ch in LETTERS:
            d = root / split / ch
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                draw_letter(ch, rng, rgb=rgb).save(d / f"{i:04d}.png")
    return root


def write_wine(path: Path) -> Path:
    from sklearn.datasets import load_wine

    d = load_wine()
    names = [f"cultivar_{'ABC'[t]}" for t in d.target]
    cols = [c.replace(" ", "_") for c in d.feature_names]
    lines = [",".join(cols + ["class"])] + [",".join([f"{v:g}" for v in row] + [n]) for row, n in zip(d.data, names, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="mydata")
    ap.add_argument("--rgb", action="store_true", help="also write letters_rgb/ (colour letters)")
    args = ap.parse_args()
    out = Path(args.out)
    print(write_letters(out / "letters"))
    if args.rgb:
        print(write_letters(out / "letters_rgb", rgb=True, seed=1))
    print(write_wine(out / "wine.csv"))


if __name__ == "__main__":
    main()
