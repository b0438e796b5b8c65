"""`kdtune report`: the run records of a benchmark gathered into a table of accuracy per unit of
compute, and its plots."""
