"""Build the app icons of the installable registrant portal (N3) in app/static/img/.

    python -m app.pwa.icons [--output-dir DIR]

The same two rings as app/static/img/icon.svg, drawn with Pillow at four times the size and scaled
down (smooth edges, no font needed). The bytes depend only on this code and Pillow, so the committed
PNGs can be compared with a fresh build. The 180 px icon is for iOS (it rounds the corners itself and
shows transparency as black, so it is a full square); the maskable one keeps the rings inside the
central 80 % circle that Android's masks never cut.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

IMG_DIR = Path(__file__).resolve().parents[1] / "static" / "img"
BACKGROUND = "#073763"
RINGS = ((22, "#ffffff"), (42, "#ffbf47"))  # (centre x on the 64-unit grid of icon.svg, colour)
SUPERSAMPLE = 4

# file name -> (size in px, shape): "rounded" has transparent corners, "square" and "maskable" are full-bleed
ICONS: dict[str, tuple[int, str]] = {
    "app-icon-180.png": (180, "square"),
    "app-icon-192.png": (192, "rounded"),
    "app-icon-512.png": (512, "rounded"),
    "app-icon-maskable-512.png": (512, "maskable"),
}


def draw(size: int, shape: str) -> Image.Image:
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if shape == "rounded":
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 12 // 64, fill=BACKGROUND)
    else:
        pen.rectangle((0, 0, big - 1, big - 1), fill=BACKGROUND)
    unit = big / 64 * (0.8 if shape == "maskable" else 1.0)
    middle = big / 2
    for centre_x, colour in RINGS:
        x = middle + (centre_x - 32) * unit
        outer = 13 * unit  # radius 10 plus half the stroke width 6
        pen.ellipse((x - outer, middle - outer, x + outer, middle + outer), outline=colour, width=round(6 * unit))
    small = image.resize((size, size), Image.Resampling.LANCZOS)
    return small if shape == "rounded" else small.convert("RGB")


def build_bytes(name: str) -> bytes:
    size, shape = ICONS[name]
    buffer = io.BytesIO()
    draw(size, shape).save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ICONS:
        target = directory / name
        target.write_bytes(build_bytes(name))
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the PWA icons (PNG).")
    parser.add_argument("--output-dir", type=Path, default=IMG_DIR)
    args = parser.parse_args(argv)
    for path in write_all(args.output_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
