"""Classification tasks: exact label sets, one prompt for training and eval, k-shot selection rules."""
import json
import unicodedata
from collections import Counter

import pytest

from data_tools.cls_tasks import (TASKS, get_task, prompt_chat, read_records, resolve_cls_path,
                                  select_shots, training_chat)
from data_tools.errors import DataError

ISSUE_LABELS = {   # copied from issue 11, the contract with the data writers and the checks
    "manufacturing": ["스크래치", "찍힘", "치수 불량", "이물", "변색", "크랙", "버", "용접 불량"],
    "finance": ["대출", "예금·적금", "카드", "보험", "펀드·투자", "외환·송금", "전자금융사기", "연금"],
    "healthcare": ["내과", "정형외과", "피부과", "이비인후과", "안과", "소아청소년과", "산부인과", "정신건강의학과"],
}


def pool_of(domain: str, per_label: int) -> list[dict]:
    return [{"text": f"{domain} 예시 {label} {i}", "label": label}
            for label in TASKS[domain].labels for i in range(per_label)]


@pytest.mark.parametrize("domain", sorted(ISSUE_LABELS))
def test_label_sets_are_the_issue_strings(domain):
    task = get_task(domain)
    assert list(task.labels) == ISSUE_LABELS[domain]
    assert all(unicodedata.is_normalized("NFC", lab) for lab in task.labels)


def test_training_chat_is_the_eval_prompt_plus_the_label():
    task = get_task("manufacturing")
    rec = {"text": "  OD 치수 +0.05 OOT, 3번 캐비티  ", "label": "치수 불량"}
    chat = training_chat(rec, task)
    assert chat[:-1] == prompt_chat(task, rec["text"])
    assert chat[-1] == {"role": "assistant", "content": "치수 불량"}
    user = chat[0]["content"]
    assert user.startswith(task.instruction)
    assert "보기: 스크래치, 찍힘, 치수 불량, 이물, 변색, 크랙, 버, 용접 불량" in user
    assert user.endswith("검사 메모: OD 치수 +0.05 OOT, 3번 캐비티")
    with pytest.raises(DataError, match="not one of the manufacturing labels"):
        training_chat({"text": "x", "label": "치수불량"}, task)


def test_k_shot_chat_puts_solved_turns_first_and_the_instruction_once():
    task = get_task("finance")
    shots = [{"text": "적금 해지", "label": "예금·적금"}, {"text": "카드 분실", "label": "카드"}]
    chat = prompt_chat(task, "IRP 인출", shots)
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in chat[1::2]] == ["예금·적금", "카드"]
    assert sum(task.instruction in m["content"] for m in chat) == 1 and task.instruction in chat[0]["content"]
    assert chat[-1]["content"] == "고객 문의: IRP 인출"


@pytest.mark.parametrize("k", [1, 3, 8, 12])
def test_shots_never_include_the_item_and_are_label_balanced(k):
    pool = pool_of("healthcare", 3)
    for item in pool[::5]:
        # the pool holds the item itself and a copy differing only in whitespace/normal form
        variant = {"text": unicodedata.normalize("NFD", "  " + item["text"].replace(" ", "  ")), "label": item["label"]}
        shots = select_shots(item["text"], pool + [variant], k, seed=7)
        assert len(shots) == k
        keys = {" ".join(unicodedata.normalize("NFC", s["text"]).split()) for s in shots}
        assert item["text"] not in keys
        counts = Counter(s["label"] for s in shots)
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == min(k, 8)


def test_shots_are_seeded_per_item_and_do_not_depend_on_the_gold_label():
    pool = pool_of("finance", 4)
    a = select_shots("카드 승인 취소 문의", pool, 4, seed=0)
    assert a == select_shots("카드 승인 취소 문의", list(pool), 4, seed=0)       # reproducible
    assert a != select_shots("카드 승인 취소 문의", pool, 4, seed=1)             # the seed matters
    assert a != select_shots("대출 금리 문의", pool, 4, seed=0)                 # each item its own shots
    with pytest.raises(DataError, match="only 2 usable"):
        select_shots("x", pool[:2], 3, seed=0)
    assert select_shots("x", pool, 0, seed=0) == []


def test_read_records_normalises_and_names_bad_lines(tmp_path):
    task = get_task("healthcare")
    good = tmp_path / "good.jsonl"
    nfd = unicodedata.normalize("NFD", "귀가 먹먹하고 이명")
    good.write_text(json.dumps({"text": nfd, "label": unicodedata.normalize("NFD", "이비인후과")},
                               ensure_ascii=False) + "\n\n", encoding="utf-8")
    rows = read_records(good, task)
    assert rows == [{"text": "귀가 먹먹하고 이명", "label": "이비인후과"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text(encoding="utf-8") + json.dumps({"text": "눈 충혈", "label": "안 과"},
                                                                 ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:3: label '안 과'"):
        read_records(bad, task)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="no rows"):
        read_records(tmp_path / "empty.jsonl", task)


def test_builtin_paths():
    with pytest.raises(DataError, match="unknown classification task 'retail'"):
        resolve_cls_path("builtin:cls/retail")
    with pytest.raises(DataError, match="no shipped file"):
        resolve_cls_path("builtin:cls/finance/dev")
    with pytest.raises(DataError, match="file not found"):
        resolve_cls_path("/nonexistent/x.jsonl")


@pytest.mark.parametrize("domain", sorted(ISSUE_LABELS))
def test_shipped_splits_read_with_the_task_labels(domain):
    task = get_task(domain)
    test = read_records(resolve_cls_path(f"builtin:cls/{domain}"), task)       # test split by default
    train = read_records(resolve_cls_path(f"builtin:cls/{domain}/train"), task)
    assert Counter(r["label"] for r in test) == {label: 12 for label in task.labels}
    assert len(train) >= 400 and set(r["label"] for r in train) == set(task.labels)
    keys = {" ".join(r["text"].split()) for r in train}
    assert not [r["text"] for r in test if " ".join(r["text"].split()) in keys]   # no test row in train
