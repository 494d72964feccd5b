"""Brazil-specific rules. CNPJ (Brazilian company tax id) check digits: the real mod-11 algorithm.

A CNPJ has 14 digits: an 8-digit root, a 4-digit branch (``0001`` = head office)
and two check digits. Each check digit is ``11 - (weighted sum mod 11)``, or 0
when the remainder is below 2; the weights run 5..2,9..2 and 6..2,9..2.
"""

from __future__ import annotations

import numpy as np

_W1 = np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
_W2 = np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)


def _check_digit(digits: list[int], weights: np.ndarray) -> int:
    remainder = sum(d * int(w) for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder < 2 else 11 - remainder


def make_cnpj(root: int, branch: int = 1) -> str:
    """The 14-digit CNPJ for an 8-digit root and a 4-digit branch number."""
    if not 0 <= root < 10**8 or not 0 < branch < 10**4:
        raise ValueError(f"CNPJ root must have 8 digits and branch 4 (got root={root}, branch={branch})")
    digits = [int(c) for c in f"{root:08d}{branch:04d}"]
    digits.append(_check_digit(digits, _W1))
    digits.append(_check_digit(digits, _W2))
    return "".join(map(str, digits))


def is_valid_cnpj(value: str) -> bool:
    """True for 14 digits (punctuation allowed) whose two check digits are right."""
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) != 14 or any(not (c.isdigit() or c in "./-") for c in value):
        return False
    if len(set(digits)) == 1:  # 00000000000000, 11111111111111... pass mod 11 but are invalid
        return False
    return digits[12] == _check_digit(digits[:12], _W1) and digits[13] == _check_digit(digits[:13], _W2)


def make_cnpjs(roots: np.ndarray, branches: np.ndarray | int = 1) -> list[str]:
    """Vectorised ``make_cnpj`` for many roots at once."""
    roots = np.asarray(roots, dtype=np.int64)
    base = roots * 10**4 + np.broadcast_to(np.asarray(branches, dtype=np.int64), roots.shape)
    digits = (base[:, None] // (10 ** np.arange(11, -1, -1, dtype=np.int64))) % 10
    r1 = (digits * _W1).sum(axis=1) % 11
    d1 = np.where(r1 < 2, 0, 11 - r1)
    r2 = ((digits * _W2[:12]).sum(axis=1) + d1 * _W2[12]) % 11
    d2 = np.where(r2 < 2, 0, 11 - r2)
    full = base * 100 + d1 * 10 + d2
    return [f"{v:014d}" for v in full.tolist()]
