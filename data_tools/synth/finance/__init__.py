"""Finance word problems: VAT, compound interest, amortised loans, simple-interest deposits."""

from . import compound_interest, deposit_interest, loan_payment, vat

TASKS = (vat.TASK, compound_interest.TASK, loan_payment.TASK, deposit_interest.TASK)
