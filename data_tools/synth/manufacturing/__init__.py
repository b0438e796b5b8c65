"""Manufacturing word problems: defect rate, OEE, unit conversion, takt time."""

from . import defect_rate, oee, takt_time, unit_conversion

TASKS = (defect_rate.TASK, oee.TASK, unit_conversion.TASK, takt_time.TASK)
