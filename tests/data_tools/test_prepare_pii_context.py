"""Context-aware PII through `kdtune data prepare`: the two cases of issue 13 in a dataset, the
threshold from the config, and the data card's counts per kind and per reason adding up."""

import json

import pytest

from data_tools.errors import DataError
from data_tools.pii import Redactor
from data_tools.prepare import prepare
from data_tools.prepare_config import default_config

ROWS = [
    ("가입 신청서를 확인해 주세요.", "주민등록번호 860622 - 3744599 으로 조회되는 가입 이력이 없습니다."),
    ("주문 상태를 알려 주세요.", "주문 1201156384062 건은 출고 대기 중입니다."),
    ("회신 연락처가 무엇인가요?", "담당자 연락처는 010-2345-6789 입니다. 주민번호 800101-1234560 확인 완료."),
    ("신생아 등록 상태는요?", "신생아 2103153456782 등록이 완료되었습니다."),
]


def prepared(tmp_path, *overrides):
    src = tmp_path / "raw.jsonl"
    src.write_text("".join(json.dumps({"instruction": q, "output": a}, ensure_ascii=False) + "\n"
                           for q, a in ROWS), encoding="utf-8")
    cfg = default_config([str(src)], str(tmp_path / "out"),
                         ["output.eval_fraction=0.0", "workers=1", "quality.min_hangul_ratio=0.0",
                          *overrides])
    card = prepare(cfg, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").open(encoding="utf-8")]
    return card, [row["messages"][-1]["content"] for row in rows]


def test_named_typo_masked_order_number_kept_and_card_counts_add_up(tmp_path):
    card, answers = prepared(tmp_path)
    assert answers[0].startswith("주민등록번호 [주민등록번호] 으로")
    assert answers[1] == "주문 1201156384062 건은 출고 대기 중입니다."
    assert answers[2] == "담당자 연락처는 [전화번호] 입니다. 주민번호 [주민등록번호] 확인 완료."
    assert answers[3] == "신생아 [주민등록번호] 등록이 완료되었습니다."
    pii = card["pii"]
    assert pii["threshold"] == 0.5
    assert pii["counts"]["rrn"] == 3 and pii["counts"]["phone"] == 1 and pii["total"] == 4
    assert pii["reasons"] == {"date": 1, "format+context": 1, "checksum+context": 1, "context": 1}
    assert pii["counts_by_reason"] == {"phone": {"format+context": 1},
                                       "rrn": {"checksum+context": 1, "context": 1, "date": 1}}
    assert sum(pii["reasons"].values()) == pii["total"] == sum(pii["counts"].values())


def test_threshold_from_the_config(tmp_path):
    # 0.6: the bare, unlabelled post-2020 number (0.55) is no longer enough on its own
    card, answers = prepared(tmp_path, "pii.threshold=0.6")
    assert answers[3] == ROWS[3][1] and card["pii"]["counts"]["rrn"] == 2
    assert card["pii"]["threshold"] == 0.6
    with pytest.raises(DataError, match="pii.threshold"):
        prepared(tmp_path, "pii.threshold=0")


def test_redactor_reports_reasons_and_checks_its_threshold():
    r = Redactor("mask", threshold=0.5)
    assert r("주민등록번호 860622-3744599").text == "주민등록번호 [주민등록번호]"
    assert r("주문 1201156384062 건").text == "주문 1201156384062 건"
    assert r("hong@naver.com").text == "[이메일]"
    report = r.report_dict()
    assert report["reasons"] == {"format": 1, "context": 1} and report["threshold"] == 0.5
    assert sum(report["reasons"].values()) == report["total"] == 2
    assert Redactor("mask", threshold=0.4)("주문 120115-6384062 건").spans == []  # no checksum: 0.2
    with pytest.raises(DataError, match="threshold"):
        Redactor("mask", threshold=1.5)


def test_full_width_and_dash_variants_are_masked_by_the_default_prepare(tmp_path):
    # The default normaliser (fullwidth: alnum) folds the digits but keeps U+FF0D and en dashes;
    # the detector reads every dash as a hyphen, so these are masked all the same.
    rows = [("연락처를 알려 주세요.", "환자 연락처 ０１０－２３４５－６７８９ 입니다."),
            ("사업자 정보는요?", "사업자등록번호 124–81–00998 으로 발행합니다."),
            ("면허 번호 확인해 주세요.", "운전면허 11 12 345678 90 확인했습니다.")]
    src = tmp_path / "raw.jsonl"
    src.write_text("".join(json.dumps({"instruction": q, "output": a}, ensure_ascii=False) + "\n"
                           for q, a in rows), encoding="utf-8")
    cfg = default_config([str(src)], str(tmp_path / "out"),
                         ["output.eval_fraction=0.0", "workers=1", "quality.min_hangul_ratio=0.0"])
    card = prepare(cfg, progress=False)
    answers = sorted(json.loads(line)["messages"][-1]["content"]
                     for line in (tmp_path / "out" / "train.jsonl").open(encoding="utf-8"))
    assert answers == ["사업자등록번호 [사업자등록번호] 으로 발행합니다.", "운전면허 [운전면허번호] 확인했습니다.",
                       "환자 연락처 [전화번호] 입니다."]
    assert card["pii"]["counts"]["phone"] == card["pii"]["counts"]["brn"] == 1
    assert card["pii"]["counts"]["driver_license"] == 1 and card["pii"]["total"] == 3
