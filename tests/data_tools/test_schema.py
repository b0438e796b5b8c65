"""Schema adapters: raw rows -> the chat and MCQA shapes the trainer reads."""

import pytest

from data_tools.quarantine import RowRejected
from data_tools.schema import map_texts, payload_to_object, prompt_text, record_text, to_record
from tests.helpers import input_spec, rejection_reason


spec, reason = input_spec, rejection_reason


def test_instruction_row_becomes_user_and_assistant_messages():
    rec = to_record({"instruction": "요약하세요", "input": "본문", "output": "요약", "id": 7, "score": float("nan")},
                    spec(passthrough=["id", "score", "absent"]), "src.jsonl", 3)
    assert rec == {"messages": [{"role": "user", "content": "요약하세요\n\n본문"},
                                {"role": "assistant", "content": "요약"}],
                   "meta": {"source": "src.jsonl", "line": 3, "id": 7, "score": None}}


def test_empty_input_is_not_appended_and_system_prompt_added():
    rec = to_record({"instruction": "질문", "input": "  ", "output": "답"}, spec(system_prompt="너는 회계사다"), "s", 1)
    assert [m["role"] for m in rec["messages"]] == ["system", "user", "assistant"]
    assert rec["messages"][1]["content"] == "질문"


def test_field_mapping_with_korean_column_names():
    rec = to_record({"질문": "세율은?", "답변": "10%"}, spec(fields={"instruction": "질문", "output": "답변"}), "s", 1)
    assert rec["messages"][0]["content"] == "세율은?" and rec["messages"][1]["content"] == "10%"


def test_chat_roles_mapped_and_json_string_messages_accepted():
    obj = {"conversations": '[{"from": "human", "value": "안녕"}, {"from": "gpt", "value": "반가워요"}]'}
    s = spec(fields={"messages": "conversations", "role": "from", "content": "value"},
             roles={"human": "user", "gpt": "assistant"})
    rec = to_record(obj, s, "s", 1)
    assert rec["messages"] == [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": "반가워요"}]


def test_kmmlu_row():
    row = {"question": "다음 중 자산은?", "answer": 2, "A": "매출", "B": "현금", "C": "비용", "D": "수익",
           "Category": "Accounting", "Human Accuracy": 0.5}
    rec = to_record(row, spec(), "kmmlu.csv", 2)
    assert rec == {"question": "다음 중 자산은?", "choices": ["매출", "현금", "비용", "수익"], "answer": 2,
                   "category": "Accounting", "meta": {"source": "kmmlu.csv", "line": 2}}


def test_kormedmcqa_row_with_letter_answer_and_mapped_category():
    row = {"question": "Q", "A": "a", "B": "b", "C": "c", "D": "d", "E": "e", "answer": "E", "subject": "doctor"}
    rec = to_record(row, spec(adapter="kormedmcqa", fields={"category": "subject"}), "s", 1)
    assert rec["choices"] == ["a", "b", "c", "d", "e"] and rec["answer"] == 5 and rec["category"] == "doctor"


def test_answers_as_strings_floats_and_numeric_options():
    row = {"question": "Q", "A": 100, "B": 200.5, "C": "c", "D": "d", "answer": "3"}
    rec = to_record(row, spec(adapter="kmmlu"), "s", 1)
    assert rec["choices"] == ["100", "200.5", "c", "d"] and rec["answer"] == 3
    assert to_record(dict(row, answer=4.0), spec(adapter="kmmlu"), "s", 1)["answer"] == 4


@pytest.mark.parametrize("answer", [0, 5, True, "F", "x", None, 2.5])
def test_bad_answers_rejected(answer):
    row = {"question": "Q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": answer}
    assert reason(row, adapter="kmmlu") in ("bad_answer", "missing_field")


def test_rejection_reasons():
    assert reason({"instruction": "", "output": "x"}) == "empty_field"
    assert reason({"instruction": "x"}) == "missing_field"
    assert reason({"instruction": "x", "output": 3}) == "wrong_type"
    assert reason({"instruction": ["x"], "output": "y"}) == "wrong_type"
    assert reason({"text": "x"}) == "unknown_schema"
    assert reason({"messages": [{"role": "bot", "content": "x"}]}) == "bad_role"
    assert reason({"messages": [{"role": "user", "content": "x"}]}) == "bad_conversation"
    assert reason({"messages": []}) == "empty_field"
    assert reason({"question": "Q", "A": "a", "B": "b", "C": "", "D": "d", "answer": 1}) == "empty_field"
    assert reason({"question": "Q", "A": "a", "B": "b", "answer": 1}) == "missing_field"


def test_payload_parsing():
    assert payload_to_object('\ufeff{"a": 1}'.encode()) == {"a": 1}
    for raw, why in [(b'{"a": ', "bad_json"), (b"plain text", "bad_json"), (b"[1]", "not_object"),
                     (b'{"a": "\xb0\xa1"}', "not_utf8")]:
        with pytest.raises(RowRejected) as err:
            payload_to_object(raw)
        assert err.value.reason == why
    with pytest.raises(RowRejected) as err:
        payload_to_object({"q": "ok", "a": "bad\udcb0byte"})
    assert err.value.reason == "not_utf8" and "0xb0" in err.value.detail


def test_record_text():
    assert record_text({"question": "Q", "choices": ["a", "b"]}) == "Q\na\nb"
    chat = {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    assert record_text(chat) == "u\na"


def test_prompt_text_is_what_the_model_is_asked():
    chat = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
                         {"role": "assistant", "content": "a"}, {"role": "user", "content": "u2"}]}
    assert prompt_text(chat) == "u1\nu2"
    assert prompt_text({"question": "Q", "choices": ["a", "b"]}) == "Q\na\nb"


def test_map_texts_touches_texts_only_and_reports_drops():
    rec = {"question": "q", "choices": ["a", "b"], "answer": 2, "category": "c",
           "meta": {"source": "src", "line": 4, "tags": ["t"], "n": 1}}
    assert map_texts(rec, str.upper) == {"question": "Q", "choices": ["A", "B"], "answer": 2, "category": "C",
                                         "meta": {"source": "src", "line": 4, "tags": ["T"], "n": 1}}
    chat = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "meta": {}}
    assert map_texts(chat, lambda t: t * 2)["messages"] == [{"role": "user", "content": "xx"},
                                                            {"role": "assistant", "content": "yy"}]
    assert map_texts(chat, lambda t: None if t == "y" else t) is None
