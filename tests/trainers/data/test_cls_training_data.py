"""Classification rows {"text", "label"} as SFT data: the eval's own prompt with the label as the
answer, the shipped train split (never the test split), bad rows skipped with their reason."""
import json

import pytest

from data_tools.cls_tasks import SHIPPED_CLS, get_task, prompt_chat
from trainers.data.chat_data import cls_task_of, read_chat_file, resolve_data_path
from trainers.errors import UserError


def test_builtin_cls_path_is_the_train_split():
    train, ev = resolve_data_path("builtin:cls/finance")
    assert train == SHIPPED_CLS / "finance" / "train.jsonl" and ev is None
    assert cls_task_of("builtin:cls/finance", None) == "finance"
    assert cls_task_of("some/file.jsonl", "healthcare") == "healthcare"
    with pytest.raises(UserError, match="data.task=healthcare"):
        cls_task_of("builtin:cls/finance", "healthcare")
    with pytest.raises(UserError, match="no shipped file"):
        resolve_data_path("builtin:cls/finance/dev")


def test_rows_become_the_eval_prompt_plus_label(tmp_path):
    f = tmp_path / "rows.jsonl"
    rows = [{"text": "카드 분실했어요 재발급 어케 하나요", "label": "카드"},
            {"text": "환율 우대 받고 달러 송금하려면?", "label": "외환·송금"},
            {"text": "모르는 라벨", "label": "주식"},
            {"text": "   ", "label": "카드"}]
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = read_chat_file(f, task="finance")
    task = get_task("finance")
    assert len(out.chats) == 2 and [s["line"] for s in out.skipped] == [3, 4]
    assert "주식" in out.skipped[0]["reason"]
    for chat, row in zip(out.chats, rows):
        assert chat[:-1] == prompt_chat(task, row["text"])          # exactly what eval asks
        assert chat[-1] == {"role": "assistant", "content": row["label"]}


def test_without_a_task_rows_are_skipped_with_the_fix(tmp_path):
    f = tmp_path / "rows.jsonl"
    f.write_text(json.dumps({"text": "배가 아파요", "label": "내과"}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="set data.task"):
        read_chat_file(f)


def test_every_shipped_train_row_is_usable():
    for domain in ("manufacturing", "finance", "healthcare"):
        train, _ = resolve_data_path(f"builtin:cls/{domain}")
        out = read_chat_file(train, task=domain)
        assert not out.skipped and len(out.chats) >= 400


def test_sharegpt_rows_train_like_messages(tmp_path):
    f = tmp_path / "sg.jsonl"
    rows = [{"conversations": [{"from": "system", "value": "금융 상담원"}, {"from": "human", "value": "예금 금리?"},
                               {"from": "gpt", "value": "연 3.1%입니다."}]},
            {"conversations": [{"from": "robot", "value": "?"}]}]
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = read_chat_file(f)
    assert out.chats == [[{"role": "system", "content": "금융 상담원"}, {"role": "user", "content": "예금 금리?"},
                          {"role": "assistant", "content": "연 3.1%입니다."}]]
    assert out.skipped[0]["line"] == 2 and "from" in out.skipped[0]["reason"]
