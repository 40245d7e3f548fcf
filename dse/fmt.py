"""Numbers as dse prints them: rounded half up in decimal, the way a reader rounds, never by the binary value.

`f"{x:.1f}"` rounds the binary float: 27.85 is stored as 27.850000000000001 and prints 27.9, 31.65 as
31.649999999999999 and prints 31.6, and 28.25 (exact in binary) rounds half to even, to 28.2. A reader rounds all
three up. `number` first takes the value at `CLEAN_DIGITS` significant digits, which removes the last-bit noise of
float arithmetic (a mean of 31.65 computed as 31.649999999999995 is 31.65) while keeping every digit a measurement
has, then rounds that decimal half up.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from numbers import Real

CLEAN_DIGITS = 12
"""Significant digits kept before rounding: float noise sits near the 16th, a measurement never needs the 13th."""

MISSING = "—"


def number(value: object, digits: int = 1, *, significant: bool = False, percent: bool = False,
           thousands: bool = False, sign: bool = False, missing: str = MISSING) -> str:
    """`value` rounded half up: to `digits` decimals, or with `significant` to `digits` significant digits
    (trailing zeros dropped, as `%g` does, never in exponent form). `percent` appends '%' (the value is already
    in percent); `thousands` groups the integer part with commas; `sign` writes '+' before a positive value.
    None, NaN and anything that is not a real number give `missing`; a value that rounds to zero has no sign."""
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            value = float(value)  # numpy and pandas scalars, Decimal
        except (TypeError, ValueError):
            return missing
    x = float(value)
    if math.isnan(x):
        return missing
    if math.isinf(x):
        return ("-" if x < 0 else "+" if sign else "") + "inf" + ("%" if percent else "")
    exact = Decimal(f"{x:.{CLEAN_DIGITS}g}")
    if significant:
        if digits < 1:
            raise ValueError("significant needs at least 1 digit")
        place = exact.adjusted() - digits + 1 if exact else 0
        rounded = exact.quantize(Decimal(1).scaleb(place), rounding=ROUND_HALF_UP)
        if rounded and rounded.adjusted() > exact.adjusted():  # 9.96 -> 10.0 at 3 digits: one digit fewer after
            rounded = rounded.quantize(Decimal(1).scaleb(place + 1), rounding=ROUND_HALF_UP)
        rounded = _strip(rounded)
    else:
        if digits < 0:
            raise ValueError("digits must be 0 or more")
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    text = f"{rounded:,f}" if thousands else f"{rounded:f}"
    if sign and rounded > 0:
        text = "+" + text
    return text + ("%" if percent else "")


def _strip(d: Decimal) -> Decimal:
    """Trailing zeros after the point dropped, never to exponent form (1.50 -> 1.5, 20 stays 20)."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()
