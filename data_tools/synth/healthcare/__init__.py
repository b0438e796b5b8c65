"""Healthcare word problems: BMI, dose per kg, IV infusion rate, creatinine clearance."""

from . import bmi, creatinine_clearance, dose_per_kg, infusion_rate

TASKS = (bmi.TASK, dose_per_kg.TASK, infusion_rate.TASK, creatinine_clearance.TASK)
