"""MCQA prompts in the KMMLU / KorMedMCQA layouts, and batched option scoring against a naive loop."""
import pytest
import torch
import transformers

from trainers.evaluation.mcqa import (
    build_prompt, build_prompts, continuations, encode_pair, predictions, score_choices, select_shots,
)
from trainers.models.tiny_model import train_tokenizer

ROWS = [
    {"question": "재료가 파단되기 전까지 견딜 수 있는 최대 응력은?", "A": "항복강도", "B": "탄성계수",
     "C": "인장강도", "D": "경도", "answer": 3, "Category": "Materials Engineering"},
    {"question": "유동비율을 구하는 식은?", "A": "유동자산 ÷ 유동부채", "B": "부채 ÷ 자본",
     "C": "매출 ÷ 자산", "D": "이익 ÷ 매출", "answer": 1, "Category": "Accounting"},
    {"question": "표면 균열 검출에 적합한 비파괴검사는?", "A": "방사선투과검사", "B": "초음파검사",
     "C": "자분탐상검사", "D": "와전류검사와 침투탐상검사를 함께 쓰는 방법", "answer": 3,
     "Category": "Nondestructive Testing"},
]
DEV = [
    {"question": "정률법은 무엇을 계산하는 방법인가?", "A": "감가상각", "B": "세금", "C": "이자",
     "D": "배당", "answer": 1, "Category": "Accounting"},
    {"question": "경도 시험에 쓰는 방법은?", "A": "브리넬", "B": "샤르피", "C": "피로", "D": "크리프",
     "answer": 1, "Category": "Materials Engineering"},
    {"question": "재고자산 평가 방법이 아닌 것은?", "A": "선입선출법", "B": "후입선출법", "C": "총평균법",
     "D": "정액법", "answer": 4, "Category": "Accounting"},
]


def test_kmmlu_prompt_layout_exact():
    assert build_prompt(ROWS[1]) == (
        "유동비율을 구하는 식은?\nA. 유동자산 ÷ 유동부채\nB. 부채 ÷ 자본\nC. 매출 ÷ 자산\nD. 이익 ÷ 매출\n정답："
    )


def test_k_shot_prefers_same_category_then_fills():
    shots = select_shots(ROWS[1], DEV, 3, "kmmlu")
    assert [s["Category"] for s in shots] == ["Accounting", "Accounting", "Materials Engineering"]
    prompt = build_prompts([ROWS[1]], "kmmlu", k_shot=1, dev_pool=DEV)[0]
    first, second = prompt.split("\n\n")
    assert first.startswith("정률법은") and first.endswith("정답： A")
    assert second == build_prompt(ROWS[1]) and prompt.endswith("정답：")
    assert select_shots(DEV[0], DEV, 5, "kmmlu")[0] is DEV[2]     # never its own shot
    with pytest.raises(ValueError, match="dev_pool"):
        build_prompts(ROWS, k_shot=2)


def test_kormedmcqa_five_options():
    row = {"question": "급성 충수염의 일차 치료는?", "A": "수액", "B": "항생제 단독", "C": "충수절제술",
           "D": "관찰", "E": "진통제", "answer": 3, "subject": "doctor"}
    p = build_prompt(row, "kormedmcqa")
    assert p.splitlines()[-2] == "E. 진통제" and p.endswith("\n정답：")
    assert continuations(row, "kormedmcqa") == [" A", " B", " C", " D", " E"]
    assert continuations(row, "kormedmcqa", "text")[2] == " 충수절제술"
    with pytest.raises(ValueError, match="lacks"):
        build_prompt(ROWS[0], "kormedmcqa")


@pytest.fixture(scope="module")
def tiny():
    texts = [build_prompt(r, "kmmlu") + " " + "ABCD"[r["answer"] - 1] for r in ROWS + DEV]
    texts += ["정답은 3번입니다.", "한국어 문장을 학습합니다.", "A B C D E"]
    tok = train_tokenizer(texts, vocab_size=400)
    cfg = transformers.Qwen2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, intermediate_size=64, vocab_size=len(tok),
                                   pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return transformers.Qwen2ForCausalLM(cfg).eval(), tok


def _naive_scores(model, tok, prompts, choices):
    """One unpadded forward per (prompt, option); full logits; sum log p of the option tokens."""
    out = []
    for p, cs in zip(prompts, choices):
        row = []
        for c in cs:
            ctx, cont = encode_pair(tok, p, c)
            ids = torch.tensor([ctx + cont])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0].float(), -1)
            row.append(sum(float(logp[len(ctx) - 1 + t, tok_id]) for t, tok_id in enumerate(cont)))
        out.append(row)
    return out


@pytest.mark.parametrize("target", ["letter", "text"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_scores_equal_naive_loop(tiny, side, target):
    model, tok = tiny
    prompts = build_prompts(ROWS, "kmmlu", k_shot=1, dev_pool=DEV)
    choices = [continuations(r, "kmmlu", target) for r in ROWS]
    batched = score_choices(model, tok, prompts, choices, batch_size=5, padding_side=side)
    naive = _naive_scores(model, tok, prompts, choices)
    assert [len(r) for r in batched] == [4, 4, 4]
    for b_row, n_row in zip(batched, naive):
        assert b_row == pytest.approx(n_row, abs=1e-4)
    assert predictions(batched) == predictions(naive)
    # Text options of different lengths really were padded against each other.
    if target == "text":
        lengths = {len(encode_pair(tok, p, c)[1]) for p, cs in zip(prompts, choices) for c in cs}
        assert len(lengths) > 1


def test_scoring_leaves_training_mode_alone(tiny):
    model, tok = tiny
    model.train()
    score_choices(model, tok, [build_prompt(ROWS[0])], [[" A", " B"]], batch_size=2)
    assert model.training
    model.eval()


def test_predictions_first_on_tie():
    assert predictions([[-1.0, -0.5, -0.5, -3.0], [0.0, -1.0]]) == [2, 1]
