"""No validation row is trained on: the split of one file, the examples SFT and distillation build
from it, and `kdtune data prepare`'s train/eval files are disjoint by content (and, for
distillation, by example id) and together hold every row exactly once."""
import json

import pytest

from trainers.config import load_config
from trainers.data.sft_data import split_eval
from trainers.models.model_builder import load_tokenizer
from trainers.run.run_dir import RunDir

N = 40


def chats(n: int = N) -> list[list[dict]]:
    # distinct rows: the number appears in both turns, so no two rows tokenise alike
    return [[{"role": "user", "content": f"{i}번 거래의 부가세는 얼마인가요?"},
             {"role": "assistant", "content": f"거래 {i}: 공급가액 {i * 1000}원의 10%인 {i * 100}원입니다."}]
            for i in range(n)]


def key(chat) -> str:
    return json.dumps(chat, ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("fraction,seed", [(0.05, 0), (0.25, 1), (0.5, 42)])
def test_split_is_a_partition(fraction, seed):
    rows = chats()
    train, held = split_eval(rows, fraction, seed)
    assert held and not {key(c) for c in train} & {key(c) for c in held}
    assert sorted(map(key, train + held)) == sorted(map(key, rows))
    assert len(held) == max(1, round(N * fraction))


def write_chats(path, rows) -> None:
    path.write_text("".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in rows), encoding="utf-8")


def as_tuples(examples) -> set:
    return {tuple(e.input_ids) for e in examples}


def split_examples(tmp_path, config: str, loader):
    """The N shipped-shape chats through a recipe's data loader with a quarter held out."""
    data = tmp_path / "d.jsonl"
    write_chats(data, chats())
    cfg = load_config(config, [f"data.path={data}", "data.eval_fraction=0.25"])
    return loader(cfg, load_tokenizer(cfg.model), "r1", RunDir(tmp_path / "run", True))


def test_sft_examples_never_include_eval_rows(tmp_path):
    from trainers.data.training_data import load_sft_data
    train_ex, eval_ex, counts = split_examples(tmp_path, "smoke/tiny_lora.yaml", load_sft_data)
    assert len(eval_ex) == 10 and len(train_ex) == N - 10
    assert not as_tuples(train_ex) & as_tuples(eval_ex)
    assert len(as_tuples(train_ex + eval_ex)) == N and counts["eval_examples"] == 10


def test_distillation_examples_are_disjoint_by_content_and_id(tmp_path):
    from trainers.distill.distill_setup import load_distill_data
    train_ex, eval_ex, _ = split_examples(tmp_path, "smoke/tiny_distill.yaml", load_distill_data)
    assert eval_ex and not as_tuples(train_ex) & as_tuples(eval_ex)
    assert not {e.example_id for e in train_ex} & {e.example_id for e in eval_ex}
    assert len(as_tuples(train_ex + eval_ex)) == N


def test_prepared_train_and_eval_files_are_disjoint(tmp_path):
    from data_tools.prepare import prepare
    from data_tools.prepare_config import default_config
    src = tmp_path / "raw.jsonl"
    write_chats(src, chats())
    out = tmp_path / "prepared"
    prepare(default_config([str(src)], str(out), ["output.eval_fraction=0.3", "dedup.near=false"]), progress=False)
    read = {name: [key(json.loads(line)["messages"]) for line in
                   (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()] for name in ("train", "eval")}
    assert read["eval"] and read["train"]
    assert not set(read["train"]) & set(read["eval"])
    assert sorted(read["train"] + read["eval"]) == sorted(map(key, chats()))
