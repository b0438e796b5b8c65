"""Synthetic, verifiable Korean word problems for manufacturing, finance and healthcare.

Each row is a chat pair: a Korean question and an answer with worked reasoning inside
`<think> … </think>` followed by `정답: <number><unit>`; `meta` carries the inputs, the answer and a
grading tolerance. Templates are split train/test by wording, so test rows measure generalisation.

    from data_tools.synth import write_synth
    write_synth("finance", 2000, "data/synth/finance", seed=0)   # train.jsonl, test.jsonl, datacard.json
"""

from .generator import DOMAINS, TASKS, generate
from .writer import write_synth

__all__ = ["DOMAINS", "TASKS", "generate", "write_synth"]
