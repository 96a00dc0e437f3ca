"""The pamphlet as a PDF (A4), drawn with fpdf2 in a Japanese font found on the appliance.

Optional: without fpdf2 or a Japanese font, `available()` is False, the PDF button is hidden and the
print view (print CSS) remains. The QR code is drawn as vector squares, so it prints crisp at any size.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _

from app.pamphlet.services import Pamphlet, qr_matrix

log = logging.getLogger("tsunagu.pamphlet")

# (path, index in a collection); Noto Sans CJK as Debian ships it first, then common Japanese fonts
KNOWN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKjp-Regular.otf", 0),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", 0),
    ("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf", 0),
)
PROBE = "登録のご案内"  # a font must have these glyphs to be used
ACCENT = (29, 79, 145)  # #1d4f91, the app's theme colour
INK = (31, 35, 40)
MUTED = (75, 85, 99)
RULE = (201, 209, 219)
MARGIN = 15.0  # mm
# characters a line must not start with (行頭禁則) and must not end with (行末禁則)
NO_LINE_START = set("、。，．・：；？！ー）」』】〕〉》ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々")
NO_LINE_END = set("（「『【〔〈《")


def _has_glyphs(path: str, index: int) -> bool:
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, fontNumber=index, lazy=True) as font:
            cmap = font.getBestCmap() or {}
        return all(ord(ch) in cmap for ch in PROBE)
    except Exception as exc:  # an unreadable font is simply not used
        log.info("font %s not usable: %s", path, exc)
        return False


def _fc_match() -> tuple[str, int] | None:
    fc = shutil.which("fc-match")
    if not fc:
        return None
    try:
        out = subprocess.run([fc, "-f", "%{file}\n%{index}", "sans-serif:lang=ja"], capture_output=True,  # noqa: S603
                             text=True, timeout=10, check=True).stdout.split("\n")
        return out[0], int(out[1] or 0)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


@functools.cache
def japanese_font() -> tuple[str, int] | None:
    """A font file (and its index in a collection) with Japanese glyphs, or None."""
    candidates = [c for c in KNOWN_FONTS if Path(c[0]).is_file()]
    found = _fc_match()
    if found:
        candidates.append(found)
    for path, index in candidates:
        if _has_glyphs(path, index):
            return path, index
    log.warning("no Japanese font found: the pamphlet PDF is not offered (the print view still works)")
    return None


@functools.cache
def available() -> bool:
    try:
        import fpdf  # noqa: F401
    except ImportError:
        return False
    return japanese_font() is not None


def wrap(text: str, fits: Any) -> list[str]:
    """Break Japanese text into lines that `fits(line)`, per character, keeping 。、」 off line starts
    and 「（ off line ends (a simple 禁則処理); explicit newlines are kept."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for ch in paragraph:
            if not line or fits(line + ch):
                line += ch
                continue
            if len(line) > 1 and (ch in NO_LINE_START or line[-1] in NO_LINE_END):
                lines.append(line[:-1])  # carry the last character down to the next line
                line = line[-1] + ch
            else:
                lines.append(line)
                line = ch
        lines.append(line)
    return lines


class _Sheet:
    def __init__(self) -> None:
        from fpdf import FPDF

        font = japanese_font()
        assert font is not None
        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(auto=True, margin=MARGIN)
        self.pdf.set_title(_("登録案内チラシ"))
        self.pdf.set_creator("Tsunagu")
        self.pdf.add_font("jp", fname=font[0], collection_font_number=font[1])
        self.pdf.add_page()
        self.width = self.pdf.w - 2 * MARGIN

    def text(self, text: str, size: float, colour: tuple[int, int, int] = INK, *, left: float = MARGIN,
             width: float | None = None, leading: float = 1.6) -> None:
        """Wrapped text from the current height down, in a column starting at `left`."""
        pdf = self.pdf
        pdf.set_font("jp", size=size)
        pdf.set_text_color(*colour)
        room = width if width is not None else self.width - (left - MARGIN)
        height = size * 0.3528 * leading  # points to mm, times the line spacing
        for line in wrap(text, lambda s: pdf.get_string_width(s) <= room):
            pdf.set_x(left)
            pdf.cell(room, height, line, new_x="LMARGIN", new_y="NEXT")

    def rule(self, colour: tuple[int, int, int], weight: float, gap: float = 3.0) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*colour)
        pdf.set_line_width(weight)
        y = pdf.get_y() + 1
        pdf.line(MARGIN, y, MARGIN + self.width, y)
        pdf.set_y(y + gap)

    def qr(self, url: str, x: float, y: float, size: float) -> None:
        matrix = qr_matrix(url)
        module = size / len(matrix)
        self.pdf.set_fill_color(0, 0, 0)
        for row_number, row in enumerate(matrix):
            start = None
            for col, dark in enumerate([*row, False]):  # one rectangle per run of dark modules
                if dark and start is None:
                    start = col
                elif not dark and start is not None:
                    self.pdf.rect(x + start * module, y + row_number * module, (col - start) * module, module,
                                  style="F")
                    start = None


def write_pdf(pamphlet: Pamphlet, url: str, out: IO[bytes]) -> None:
    sheet = _Sheet()
    pdf = sheet.pdf
    sheet.text(_("つなぐ 登録者ネットワーク"), 10, ACCENT)
    sheet.text(pamphlet.title, 20, INK, leading=1.4)
    sheet.rule(ACCENT, 1.2, gap=5)
    sheet.text(pamphlet.lead, 11)
    pdf.ln(4)
    sheet.text(_("登録すると"), 14, ACCENT)
    pdf.ln(1)
    for benefit in pamphlet.benefits:
        top = pdf.get_y()
        pdf.set_font("jp", size=7)
        pdf.set_text_color(*ACCENT)
        pdf.cell(6, 11 * 0.3528 * 1.6, "●")
        pdf.set_y(top)
        sheet.text(benefit, 11, left=MARGIN + 7)
        sheet.rule(RULE, 0.2, gap=1.5)
    pdf.ln(4)

    box_top, qr_size, pad = pdf.get_y(), 42.0, 5.0
    box_height = qr_size + 2 * pad + 6
    if box_top + box_height > pdf.h - MARGIN:
        pdf.add_page()
        box_top = pdf.get_y()
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.6)
    pdf.rect(MARGIN, box_top, sheet.width, box_height, style="D", round_corners=True, corner_radius=3)
    sheet.qr(url, MARGIN + pad, box_top + pad, qr_size)
    pdf.set_y(box_top + pad + qr_size)
    sheet.text(_("スマートフォンのカメラで読み取ってください"), 7.5, MUTED, left=MARGIN + pad, width=qr_size)
    text_left = MARGIN + 2 * pad + qr_size
    text_width = sheet.width - (text_left - MARGIN) - pad
    pdf.set_y(box_top + pad + 6)
    sheet.text(_("登録・ご利用はこちらから"), 14, ACCENT, left=text_left, width=text_width)
    pdf.ln(2)
    sheet.text(url, 13, INK, left=text_left, width=text_width)
    pdf.ln(2)
    sheet.text(_("登録は無料です。パソコンからは上のアドレスを入力して開いてください。"), 10, left=text_left,
               width=text_width)
    pdf.set_y(box_top + box_height + 5)
    if pamphlet.closing:
        sheet.text(pamphlet.closing, 10)
    out.write(bytes(pdf.output()))
