"""Build the letters' packaged font: Latin subsets of DejaVu Sans regular and bold.

    python scripts/make_letter_fonts.py [/usr/share/fonts/truetype/dejavu]

Writes ``templates/letters/fonts/LetterSans.ttf`` and ``LetterSans-Bold.ttf`` with
fontTools. Why: WeasyPrint embeds a subset of every font a PDF uses, and its cost grows
with the size of the font file it starts from (DejaVu Sans is about 740 KB; this subset
about 60 KB), which is paid once per letter. The set covers Basic Latin, Latin-1,
Latin Extended-A/B, general punctuation (with the bidi controls), the euro, numero and
trade mark signs and the minus sign; any other character (Arabic, Hebrew, CJK...) falls
back to the system's fonts through fontconfig, as before.

The Bitstream Vera licence (``LICENSE.txt`` next to the fonts) allows modified copies
whose names contain neither "Bitstream" nor "Vera": the family is renamed "Letter Sans".
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

RANGES = [
    (0x0020, 0x007E),
    (0x00A0, 0x024F),
    (0x2000, 0x206F),
    (0x20AC, 0x20AC),
    (0x2116, 0x2116),
    (0x2122, 0x2122),
    (0x2212, 0x2212),
    (0xFFFD, 0xFFFD),
]
FAMILY = "Letter Sans"
OUT = Path(__file__).resolve().parents[1] / "templates" / "letters" / "fonts"


def build(source: Path, target: Path, style: str) -> None:
    """Subset ``source`` to :data:`RANGES`, rename it and save it as ``target``."""
    font = TTFont(source)
    options = subset.Options()
    options.hinting = False  # WeasyPrint drops hinting when it embeds fonts anyway
    options.layout_features = ["kern", "liga"]
    options.notdef_outline = True
    options.name_IDs = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[u for lo, hi in RANGES for u in range(lo, hi + 1)])
    subsetter.subset(font)
    full = FAMILY if style == "Regular" else f"{FAMILY} {style}"
    postscript = full.replace(" ", "")
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 16):
            names.setName(FAMILY, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID in (2, 17):
            names.setName(style, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID in (3, 4):
            names.setName(full, record.nameID, record.platformID, record.platEncID, record.langID)
        elif record.nameID == 6:
            names.setName(
                postscript, record.nameID, record.platformID, record.platEncID, record.langID
            )
    font.save(target)


def main() -> None:
    """Build both styles from the DejaVu folder given (default: Debian's)."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu")
    OUT.mkdir(parents=True, exist_ok=True)
    build(folder / "DejaVuSans.ttf", OUT / "LetterSans.ttf", "Regular")
    build(folder / "DejaVuSans-Bold.ttf", OUT / "LetterSans-Bold.ttf", "Bold")


if __name__ == "__main__":
    main()
