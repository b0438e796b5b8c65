"""Korean personal-data (PIPA) detection and redaction for training text.

    from data_tools.pii import find_pii, Redactor
    spans = find_pii(text)                    # [Span(kind, start, end, text), ...]
    redactor = Redactor(mode="pseudonymize", seed=0)   # one per dataset
    clean = redactor(text).text               # None in "drop" mode when PII was found
    redactor.report_dict()                    # counts per kind, for the dataset manifest

Normalise text to NFC before calling (see detect.py for why and what still works on NFD).
"""

from data_tools.pii.detect import find_pii
from data_tools.pii.kinds import PII_KINDS, Span
from data_tools.pii.redactor import RedactResult, Redactor, redact

__all__ = ["PII_KINDS", "RedactResult", "Redactor", "Span", "evaluate_pii", "find_pii", "redact"]


def __getattr__(name: str):
    # Imported lazily so `python -m data_tools.pii.evaluate` does not import itself twice.
    if name == "evaluate_pii":
        from data_tools.pii.evaluate import evaluate_pii

        return evaluate_pii
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
