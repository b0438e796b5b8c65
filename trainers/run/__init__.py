"""A run's life on disk: the session that opens it (run directory, precision, ranks, seed), the
run directory itself, checkpoints and the resume check that refuses a drifted config, progress
lines, the typed records a run leaves (compute.json, manifest.json, eval.json), and `--smoke`."""
