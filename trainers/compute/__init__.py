"""What a run costs and whether it fits: FLOPs per token from the architecture and the trainable set,
the GPU catalogue and CPU peak, the compute meter that bills device-seconds and FLOPs to
compute.json, and the memory planner behind `kdtune plan` and `train.auto_fit`."""
