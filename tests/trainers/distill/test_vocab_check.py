"""Vocabulary compatibility with small tokenizers built in-process (no downloads).

Run: OMP_NUM_THREADS=1 python -m pytest tests/trainers/distill/test_vocab_check.py -q
"""
from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from trainers.distill.vocab_check import check_vocab_compatibility
from trainers.errors import UserError

KOREAN = [
    "공정 불량률이 지난 분기보다 크게 줄었습니다.",
    "환자의 혈압과 맥박을 네 시간마다 측정합니다.",
    "이 계좌의 이자는 매월 말일에 지급됩니다.",
    "비파괴 검사로 용접부의 균열을 찾아냅니다.",
    "세금 계산서는 거래일로부터 열흘 안에 발행합니다.",
]
SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"]


def bpe_tokenizer(extra_specials: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on the sentences above; training is deterministic, so two calls
    give the same vocabulary, as two sizes of one model family do."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(KOREAN, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok)
    if extra_specials:
        fast.add_special_tokens({"additional_special_tokens": list(extra_specials)})
    return fast


def word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    """Word-level tokenizer whose id i is words[i] -- for building exact (mis)matches."""
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=words[0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=words[0])


WORDS = ["<unk>"] + sorted({w for line in KOREAN for w in line.split()})


def test_same_family_with_padded_rows_passes():
    teacher, student = bpe_tokenizer(), bpe_tokenizer()
    size = len(teacher)
    assert size > 256  # the byte alphabet plus merges learned from the Korean text
    report = check_vocab_compatibility(teacher, student, teacher_vocab_rows=size + 128,
                                       student_vocab_rows=size + 16)
    assert report.kd_vocab_size == size
    assert (report.teacher_padding_rows, report.student_padding_rows) == (128, 16)
    assert f"match on {size} token ids" in report.summary()


def test_extra_special_tokens_at_the_end_are_outside_the_shared_size():
    teacher, student = bpe_tokenizer(), bpe_tokenizer(extra_specials=("<think>", "</think>"))
    assert len(student) == len(teacher) + 2
    report = check_vocab_compatibility(teacher, student, len(teacher) + 10, len(student) + 10)
    assert report.kd_vocab_size == len(teacher)
    assert report.student_tokenizer_size == len(teacher) + 2


def test_swapped_tokens_fail_and_name_ids_and_traces():
    swapped = list(WORDS)
    swapped[3], swapped[7] = swapped[7], swapped[3]
    with pytest.raises(UserError) as err:
        check_vocab_compatibility(word_tokenizer(WORDS), word_tokenizer(swapped),
                                  len(WORDS) + 4, len(WORDS) + 4)
    message = str(err.value)
    assert f"differ at 2 of {len(WORDS)} shared token ids" in message
    assert f"id 3: teacher {WORDS[3]!r} vs student {WORDS[7]!r}" in message
    assert f"id 7: teacher {WORDS[7]!r} vs student {WORDS[3]!r}" in message
    assert "kdtune run traces" in message


def test_unrelated_tokenizers_fail():
    with pytest.raises(UserError, match="differ at .* shared token ids.*kdtune run traces"):
        check_vocab_compatibility(bpe_tokenizer(), word_tokenizer(WORDS), 400, 64,
                                  max_size_difference=1000)  # past the size check, to the ids


def test_very_different_sizes_fail():
    small = word_tokenizer(WORDS)
    with pytest.raises(UserError, match="differ in size by .*kdtune run traces"):
        check_vocab_compatibility(bpe_tokenizer(), small, 400, 64, max_size_difference=8)


def test_head_smaller_than_tokenizer_fails():
    tok = bpe_tokenizer()
    with pytest.raises(UserError, match="student model has 100 output rows"):
        check_vocab_compatibility(tok, tok, len(tok), 100)
