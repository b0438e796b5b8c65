"""Privacy audits of trained models: canary exposure (exposure, secret_scoring, canary_audit),
verbatim extraction of training rows (extraction) and the report with its verdict (audit_report)."""
