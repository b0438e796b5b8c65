"""The kinds of personal data we detect (PIPA), their mask placeholders, and the Span type.

Kind ids are stable strings: reports, configs and other tools key on them, so never rename one.
The placeholder is what `mask` mode writes in place of the identifier; it is Korean because the
training text is Korean and a model should learn "a phone number went here" in the same language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

# Ordered: this is also the column order of reports. Read-only so no caller can rename a mask.
PII_KINDS = MappingProxyType(
    {
        "rrn": "[주민등록번호]",  # resident registration number, YYMMDD-GNNNNNC, G = 1..4
        "frn": "[외국인등록번호]",  # foreigner registration number, same layout, G = 5..8
        "passport": "[여권번호]",
        "driver_license": "[운전면허번호]",
        "phone": "[전화번호]",
        "email": "[이메일]",
        "card": "[카드번호]",
        "brn": "[사업자등록번호]",  # business registration number, NNN-NN-NNNNN
        "crn": "[법인등록번호]",  # corporate registration number, NNNNNN-NNNNNNN
        "bank_account": "[계좌번호]",
    }
)


@dataclass(frozen=True)
class Span:
    """One identifier found in a text: `text == source[start:end]`, offsets in code points.

    `score` (0..1) is the detector's confidence and `reason` what carried it (detect.REASONS):
    "checksum", "date" or "format" when the digits stand on their own, with "+context" when a
    label also named them, or "context" when only the label did (a typo, a check-less shape).
    They do not take part in equality: two spans are the same identifier whatever the evidence.
    """

    kind: str
    start: int
    end: int
    text: str
    score: float = field(default=1.0, compare=False)
    reason: str = field(default="", compare=False)
