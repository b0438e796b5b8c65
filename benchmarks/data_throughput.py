"""Throughput of the per-row data stage: parse + normalise + PII redaction + exact dedup.

    python benchmarks/data_throughput.py --rows 200000

Builds synthetic Korean instruction rows in memory (no files, no network), with personal data
in about half of them, NFD and full-width copies, and exact duplicates, as JSONL lines. Then runs
the same stage `kdtune data prepare` runs (data_tools.row_stage) through data_tools.parallel with
1 worker and with N workers in the same process run, merging exact-dedup keys in the parent, and
prints rows/s for each. Quality rules, near-dedup and contamination are off: they are not part of
the measured path. Both runs must agree on every kept row (checked), so the speed-up is not
bought with a different answer. Pool start-up is included in the timing: it is a real cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from data_tools.dedup import ExactDeduper  # noqa: E402
from data_tools.parallel import map_ordered  # noqa: E402
from data_tools.prepare_config import PrepareConfig  # noqa: E402
from data_tools.row_stage import Kept, init_worker, run_chunk  # noqa: E402

SUBJECTS = ["부가가치세", "법인세", "감가상각", "재고자산", "설비 종합 효율", "불량률", "택트 타임",
            "체질량지수", "크레아티닌 청소율", "대출 상환액", "예금 이자", "환율 변동"]
ASKS = ["{s}의 계산 방법을 설명해 주세요.", "{s}에 대해 고객에게 안내할 문구를 작성하세요.",
        "{s}와 관련된 최근 문의를 요약해 주세요.", "{s} 처리 절차를 단계별로 알려 주세요."]
ANSWERS = ["{s}은 기준 금액 {a}원에 세율 {p}%를 곱해 계산합니다.", "{s} 관련 문의는 {a}건이며 처리율은 {p}%입니다.",
           "담당 부서에서 {s} 자료를 검토한 결과 {a}개 항목 중 {p}개가 기준을 넘었습니다."]
CONTACTS = ["고객 연락처 010-{x:04d}-{y:04d} 로 회신 바랍니다.", "주민등록번호 {b:06d}-1{y:06d} 확인 완료.",
            "메일 user{x}@example.co.kr 로 보내 주세요.", "국민은행 {x:06d}-{z:02d}-{y:06d} 계좌로 입금.",
            "카드 4{x:03d}-{y:04d}-{x:04d}-{z:04d} 결제 건입니다."]


def synthetic_lines(n: int, seed: int = 0) -> list[bytes]:
    """JSONL lines: ~50% with PII, ~10% NFD, ~10% full-width digits, ~10% exact duplicates."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    for i in range(n):
        if lines and rng.random() < 0.10:
            lines.append(rng.choice(lines))  # exact duplicate of an earlier row
            continue
        s = rng.choice(SUBJECTS)
        row = {"instruction": rng.choice(ASKS).format(s=s),
               "input": f"문서 번호 {i}. " + (rng.choice(CONTACTS).format(
                   x=rng.randrange(10000), y=rng.randrange(10000), z=rng.randrange(100),
                   b=rng.randrange(1, 999999)) if rng.random() < 0.5 else ""),
               "output": rng.choice(ANSWERS).format(s=s, a=rng.randrange(10**6), p=rng.randrange(100))}
        r = rng.random()
        if r < 0.10:
            row = {k: unicodedata.normalize("NFD", v) for k, v in row.items()}
        elif r < 0.20:
            row = {k: v.translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)}) for k, v in row.items()}
        lines.append(json.dumps(row, ensure_ascii=False).encode("utf-8"))
    return lines


def run(lines: list[bytes], workers: int, chunk_size: int) -> dict:
    cfg = PrepareConfig(inputs=[{"path": "synthetic.jsonl", "adapter": "instruction"}],
                        quality={"enabled": False}, dedup={"near": False}, contamination={"enabled": False},
                        workers=workers, chunk_size=chunk_size)
    chunks = ((0, [(i + 1, line) for i, line in enumerate(lines[start:start + chunk_size], start)])
              for start in range(0, len(lines), chunk_size))
    exact = ExactDeduper()
    kept = rejected = 0
    digest = hashlib.sha256()  # over kept rows in order: both runs must produce the same
    cpu0, t0 = os.times(), time.perf_counter()
    for result in map_ordered(init_worker, cfg.model_dump(mode="json"), run_chunk, chunks, workers):
        for row in result.outcomes:
            if not isinstance(row, Kept):
                rejected += 1
            elif not exact.is_duplicate(row.key):
                kept += 1
                digest.update(row.json_line.encode("utf-8"))
    seconds = time.perf_counter() - t0
    cpu1 = os.times()
    # CPU of this process and its (finished) children, over wall time: ~N when N cores are busy.
    cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system
           - cpu0.user - cpu0.system - cpu0.children_user - cpu0.children_system)
    return {"workers": workers, "seconds": seconds, "rows_per_s": len(lines) / seconds, "kept": kept,
            "duplicates": exact.duplicates, "rejected": rejected, "cores_busy": cpu / seconds,
            "sha256": digest.hexdigest()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="parallel run's worker count (default: cores available)")
    parser.add_argument("--chunk-size", type=int, default=1000)
    args = parser.parse_args()

    t0 = time.perf_counter()
    lines = synthetic_lines(args.rows)
    print(f"built {len(lines):,} rows in {time.perf_counter() - t0:.1f}s; "
          f"{len(os.sched_getaffinity(0))} cores available")
    results = [run(lines, 1, args.chunk_size), run(lines, args.workers, args.chunk_size)]
    for r in results:
        print(f"workers={r['workers']}: {r['rows_per_s']:>9,.0f} rows/s  ({r['seconds']:.1f}s, "
              f"cores busy {r['cores_busy']:.2f}; kept {r['kept']:,}, exact duplicates {r['duplicates']:,}, "
              f"rejected {r['rejected']:,})")
    one, many = results
    assert (one["sha256"], one["kept"]) == (many["sha256"], many["kept"]), "outputs differ between runs"
    print(f"speed-up with {many['workers']} workers: {many['rows_per_s'] / one['rows_per_s']:.2f}x; "
          f"identical output (sha256 {one['sha256'][:12]})")


if __name__ == "__main__":
    main()
