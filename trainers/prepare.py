"""Everything a training recipe sets up before the loop, in one place and one order.

    with prepare(cfg, config_stem) as p:          # sft
        loss = SFTLoss(p.model, p.cfg.train.loss_chunk_size)
        result = train(loss, p.model, p.train_ex, p.eval_ex, ...)

The order is the dependency order (as torchtune's recipe `setup()`):
  0. auto-fit   the planner sets micro-batch / accumulation from everything the run puts on the device
                (student, teacher or cache): before the session, so config.yaml records what ran;
  1. cheap checks  data rows and model sources, seconds, before anything is claimed or loaded;
  2. session    accelerator (process group, device), then precision (needs the device), then the
                seed — the same on every process, before any model, so LoRA init is identical on
                every rank and rerun — then the run directory (its name agreed across processes);
  3. student    built (LoRA/QLoRA wrapped), and its trainable set read back from the wrapped
                modules (trainers/models/trainable.py) — the one answer to "what trains";
  4. renderer   the chat format, from the config or the student's tokenizer;
  5. data       tokenised with that renderer (the cache check below needs the examples' hash);
  6. teacher    distillation only: its vocabulary checked against the student's first, then its
                weights (or the cache, checked against the examples);
  7. rank seed  every model is built: from here each process draws its own random numbers (seed +
                rank), so LoRA dropout masks differ per process (trainers.run.session.seed_this_rank);
  8. meter      FLOPs per token from the trainable set, the examples' mean length and the teacher.
Recipes then differ only by the loss they pass to the one loop (trainers/loop.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from trainers.compute.compute_meter import ComputeMeter
from trainers.compute.flops import teacher_token_cost, train_flops_per_token
from trainers.compute.metering import arch_of, hardware_profile, mean_seq_len, set_threads
from trainers.data.chat_format import detect_format
from trainers.data.training_data import load_sft_data, read_sft_rows
from trainers.models.model_builder import BuiltModel, build_model, causal_lm_parts
from trainers.models.model_loading import check_model_sources
from trainers.models.trainable import TrainableSet, resolve_trainable
from trainers.plan_config import fit_to_gpu
from trainers.run.session import Session, open_session, seed_this_rank


@dataclass
class Prepared:
    cfg: object                  # the config as it runs (after auto-fit): recipes read this one
    session: Session
    built: BuiltModel            # the student
    trainable: TrainableSet
    chat_format: str
    train_ex: list
    eval_ex: list
    data_counts: dict
    meter: ComputeMeter
    teacher: object = None       # LiveTeacher | CachedTeacher (distillation)
    kd_vocab: int | None = None
    teacher_facts: dict = field(default_factory=dict)

    @property
    def model(self):
        return self.built.model

    @property
    def pad_id(self) -> int:
        return self.built.tokenizer.pad_token_id

    def manifest(self) -> dict:
        """What every training run records about its preparation."""
        return {"chat_format": self.chat_format, "data": self.data_counts, "trainable": self.trainable.to_dict()}


def distills(cfg) -> bool:
    return getattr(cfg, "kd", None) is not None


@contextmanager
def prepare(cfg, config_stem: str, head_passes: int = 1):
    """Yield a Prepared run inside its session (the session holds the run directory until the
    `with` block ends; a failure before the first step leaves nothing behind). `head_passes`: times
    the recipe's loss runs the output head per target token (2 for logit KD: CE and KD)."""
    cfg = fit_to_gpu(cfg)
    rows = read_sft_rows(cfg)
    live_teacher = distills(cfg) and not cfg.kd.cache_dir
    check_model_sources(cfg.model, *([cfg.kd.teacher] if live_teacher else []))
    with open_session(cfg, config_stem) as session:
        yield _build(cfg, session, rows, head_passes)


def _build(cfg, session: Session, rows, head_passes: int) -> Prepared:
    with session.accelerator.local_main_process_first():   # one download / tiny build per node
        built = build_model(cfg.model, cfg.lora, cfg.quant, session.compute_dtype, session.device,
                            cfg.train.gradient_checkpointing, sharded=cfg.train.strategy == "fsdp")
    trainable = resolve_trainable(built.model, built.method, cfg.lora.r if cfg.lora.enabled else None)
    fmt = cfg.model.chat_format if cfg.model.chat_format != "auto" else detect_format(built.tokenizer)
    if distills(cfg):   # eval ids moved past the training ids, fingerprinted for the cache
        from trainers.distill.distill_setup import load_distill_data
        train_ex, eval_ex, counts = load_distill_data(cfg, built.tokenizer, fmt, session.run, rows)
    else:
        train_ex, eval_ex, counts = load_sft_data(cfg, built.tokenizer, fmt, session.run, rows)
    if counts["rows_skipped"] and session.accelerator.is_main_process:
        print(f"warning: {counts['rows_skipped']} data rows skipped (reasons in "
              f"{session.run.path / 'skipped_rows.jsonl'})")
    teacher, kd_vocab, facts = None, None, {}
    if distills(cfg):
        from trainers.distill.distill_setup import build_teacher
        student_rows = causal_lm_parts(built.model)[1].weight.shape[0]
        teacher, kd_vocab, facts = build_teacher(cfg, built.tokenizer, student_rows, session, counts)
    # every model is built (same init on all ranks): from here each rank draws its own dropout masks
    seed_this_rank(cfg.train.seed, session.accelerator.process_index)
    meter = train_meter(built.model, trainable, train_ex, cfg, session.precision, head_passes,
                        teacher_model=getattr(teacher, "model", None))
    return Prepared(cfg=cfg, session=session, built=built, trainable=trainable, chat_format=fmt,
                    train_ex=train_ex, eval_ex=eval_ex, data_counts=counts, meter=meter,
                    teacher=teacher, kd_vocab=kd_vocab, teacher_facts=facts)


def train_meter(model, trainable: TrainableSet, examples, cfg, precision: str, head_passes: int = 1,
                teacher_model=None) -> ComputeMeter:
    """A meter whose per-token FLOPs match how this run trains: the trainable set read from the
    model (method, rank, adapted linears), recompute, `head_passes` of the output head per target,
    and a live teacher's forward (blocks on input tokens, head on targets) billed with each step."""
    seq_len = mean_seq_len(examples)
    per_token = train_flops_per_token(arch_of(model), seq_len, trainable.method, trainable.lora_r,
                                      trainable.block_targets if trainable.lora else None,
                                      cfg.train.gradient_checkpointing)
    profile, price, device = hardware_profile(cfg.compute, precision)
    teacher = teacher_token_cost(arch_of(teacher_model), seq_len) if teacher_model is not None else None
    meter = ComputeMeter(per_token, profile, price, device, head_passes=head_passes, teacher_cost=teacher)
    meter.seq_len = seq_len   # recorded so compute.json can be recomputed by hand
    set_threads(meter, model)
    return meter
