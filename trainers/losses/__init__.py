"""Loss functions: chunked cross-entropy through the output head, the KD divergences (full and
top-k), and the SFT loss step handed to the loop. The distill loss step lives with the teacher, in
trainers/distill."""
