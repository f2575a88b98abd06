"""GTIN check digits and GS1 product-image file names (pure functions, no database)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry.errors import InvalidInput

GTIN_LENGTHS = (8, 12, 13, 14)


class InvalidGtin(InvalidInput):
    """A GTIN with the wrong length, a non-digit or a wrong check digit."""

    code = "invalid_gtin"


def check_digit(body: str) -> int:
    """The GS1 check digit of the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalise_gtin(raw: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as 14 digits (zero-padded on the left)."""
    text = (raw or "").strip().replace(" ", "").replace("-", "")
    if not text.isascii() or not text.isdigit():
        raise InvalidGtin(f"a GTIN has digits only, not {raw!r}", field="gtin")
    if len(text) not in GTIN_LENGTHS:
        raise InvalidGtin(f"a GTIN has 8, 12, 13 or 14 digits; {raw!r} has {len(text)}", field="gtin")
    expected = check_digit(text[:-1])
    if int(text[-1]) != expected:
        raise InvalidGtin(f"GTIN {text} has check digit {text[-1]}; it should be {expected}", field="gtin")
    return text.zfill(14)


# <GTIN-14>_<type><facing><angle><packaging>[_free text].<ext>; the suffix after position 19 is tolerated.
_GS1_NAME = re.compile(r"^(?P<gtin>\d{8,14})_(?P<facet>[A-Za-z][0-9][A-Za-z][0-9A-Za-z])(?:_(?P<suffix>.*))?$")
# Facing order on a listing: front, back, left, right, top, bottom, not applicable.
_FACING_ORDER = {"1": 0, "7": 1, "2": 2, "8": 3, "3": 4, "9": 5, "0": 6}
_ANGLE_ORDER = {"N": 0, "C": 1, "L": 2, "R": 3}
# Out of packaging first: marketplaces' main images usually want the product itself.
_STATE_ORDER = {"0": 0, "1": 1}


@dataclass(frozen=True)
class Gs1Name:
    """A parsed GS1 product-image name: the product's GTIN-14 and the four facet characters."""

    gtin: str
    facet: str
    suffix: str = ""  # free text after position 19, e.g. a sequence `s02`: another picture of the facet

    @property
    def facing(self) -> str:
        """Facing code: 1 front, 7 back, 2 left, 8 right, 3 top, 9 bottom, 0 not applicable."""
        return self.facet[1]

    def order(self) -> tuple[int, int, int, str]:
        """Sort key putting the picture best suited to be the main image first."""
        return (_FACING_ORDER.get(self.facing, 9), _ANGLE_ORDER.get(self.facet[2], 9),
                _STATE_ORDER.get(self.facet[3], 9), self.facet + "_" + self.suffix)


def parse_gs1_name(stem: str) -> Gs1Name:
    """Parse a file name stem such as `00012345678905_C1N1`; InvalidInput says what is wrong."""
    found = _GS1_NAME.match(stem)
    if not found:
        raise InvalidInput(f"{stem!r} is not a GS1 image name like 00012345678905_C1N1", field="file")
    if found["facet"][1] not in _FACING_ORDER:
        raise InvalidInput(f"{stem!r}: facing {found['facet'][1]!r} is not a GS1 facing code", field="file")
    return Gs1Name(gtin=normalise_gtin(found["gtin"]), facet=found["facet"].upper(), suffix=found["suffix"] or "")


def slots_for(names: list[Gs1Name]) -> list[tuple[Gs1Name, str, int]]:
    """Slots for one product's pictures: the best front becomes main, the rest gallery 0, 1, … in facing order."""
    ordered = sorted(names, key=Gs1Name.order)
    slots: list[tuple[Gs1Name, str, int]] = []
    for index, name in enumerate(ordered):
        if index == 0 and name.facing in ("1", "0"):
            slots.append((name, "main", 0))
        else:
            slots.append((name, "gallery", len(slots) - (1 if slots and slots[0][1] == "main" else 0)))
    return slots
