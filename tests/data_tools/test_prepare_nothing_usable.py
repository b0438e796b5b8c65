"""`kdtune data prepare` fails (exit 2, with the reason) when no usable row is left, and reads
ShareGPT (`conversations` with `from`/`value`) like the other chat layouts."""
import csv
import io
import json

import pytest

from data_tools.cli import main

ROW = {"instruction": "대출 금리는 어떻게 정해지나요? 기준금리와 가산금리를 알려 주세요.",
       "output": "대출 금리는 기준금리에 가산금리를 더해 정해지며, 신용도와 담보에 따라 달라집니다."}


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    return buf.getvalue()


def prepare(tmp_path, path, capsys) -> tuple[int, str]:
    out = tmp_path / "out"
    code = main(["data", "prepare", "--input", str(path), "--out", str(out), "--workers", "1"])
    return code, capsys.readouterr().err


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    code, err = prepare(tmp_path, tmp_path / "empty.jsonl", capsys)
    assert code == 2 and "no usable row" in err and "holds no rows" in err
    assert not (tmp_path / "out" / "datacard.json").exists()


def test_csv_with_columns_of_no_known_layout(tmp_path, capsys):
    rows = [[f"{i}번 질문: {ROW['instruction']}", ROW["output"]] for i in range(3)]
    (tmp_path / "wrong.csv").write_text(csv_text(["질문", "답"], rows), encoding="utf-8")
    code, err = prepare(tmp_path, tmp_path / "wrong.csv", capsys)
    assert code == 2
    assert "all 3 rows of" in err and "unknown_schema 3" in err and "질문" in err and "fields:" in err
    assert not (tmp_path / "out" / "datacard.json").exists()
    assert len((tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_cp949_file(tmp_path, capsys, suffix):
    path = tmp_path / f"legacy.{suffix}"
    if suffix == "csv":
        text = csv_text(["instruction", "output"], [[ROW["instruction"], ROW["output"]]])
    else:
        text = json.dumps(ROW, ensure_ascii=False) + "\n"
    path.write_bytes(text.encode("cp949"))
    code, err = prepare(tmp_path, path, capsys)
    assert code == 2 and "not_utf8 1" in err and "cp949" in err


def test_one_usable_row_is_enough(tmp_path, capsys):
    (tmp_path / "ok.jsonl").write_text(json.dumps(ROW, ensure_ascii=False) + "\n" + "{broken\n", encoding="utf-8")
    code, _ = prepare(tmp_path, tmp_path / "ok.jsonl", capsys)
    assert code == 0
    card = json.loads((tmp_path / "out" / "datacard.json").read_text())
    assert card["counts"]["kept"] == 1 and card["counts"]["quarantined"] == {"bad_json": 1}


def test_sharegpt_rows_become_chats(tmp_path, capsys):
    rows = [{"conversations": [{"from": "system", "value": "당신은 은행 상담원입니다."},
                               {"from": "human", "value": ROW["instruction"]},
                               {"from": "gpt", "value": ROW["output"]}]},
            {"id": "x", "conversations": [{"from": "human", "value": "예금자 보호 한도는 얼마인가요? 금액을 알려 주세요."},
                                          {"from": "gpt", "value": "예금자 보호 한도는 1인당 원금과 이자를 합쳐 1억 원입니다."}]},
            {"conversations": [{"from": "narrator", "value": "이 줄은 역할이 틀렸습니다. 격리되어야 합니다."}]}]
    src = tmp_path / "sharegpt.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["data", "prepare", "--input", str(src), "--out", str(out), "--workers", "1",
                 "output.eval_fraction=0", "quality.min_hangul_ratio=0.1"]) == 0
    chats = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [[m["role"] for m in c["messages"]] for c in chats] == [["system", "user", "assistant"],
                                                                    ["user", "assistant"]]
    assert chats[0]["messages"][2]["content"] == ROW["output"]
    quarantined = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["reason"], q["detail"]) for q in quarantined] == [("bad_role", "conversations[0].from is 'narrator'")]
    card = json.loads((out / "datacard.json").read_text())
    assert card["kind"] == "chat" and card["counts"]["in"] == 3 and card["counts"]["kept"] == 2
