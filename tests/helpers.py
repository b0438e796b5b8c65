"""Shared test helpers (conftest holds fixtures only)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], cwd: Path, timeout: int = 600, env_extra: dict | None = None):
    """Run `python -m recipes.cli ARGS` as a user would run `kdtune`, returning the CompletedProcess."""
    import subprocess
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "recipes.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a rendezvous or process group)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_after_first_checkpoint(args: list[str], cwd: Path, run_dir: Path, timeout: float = 300) -> None:
    """Start `python -m recipes.cli ARGS`, SIGKILL it (whole process group) as soon as a complete
    checkpoint appears under run_dir, and check it had not finished — a real pre-emption."""
    import signal
    import subprocess
    import time
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    victim = subprocess.Popen([sys.executable, "-m", "recipes.cli", *args], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + timeout
    while not any((run_dir / "checkpoints").glob("step-*/state.json")):
        assert victim.poll() is None, victim.stdout.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint before the deadline"
        time.sleep(0.02)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (run_dir / "manifest.json").exists(), "run finished before it could be killed"


def tiny_lora(overrides: list[str] = (), n_chats: int = 8, max_len: int = 96):
    """(cfg, built model, tokenised shipped finance examples, CPU Accelerator) for in-process loop
    tests: smoke/tiny_lora.yaml, LoRA B given nonzero values so every adapter weight gets a gradient."""
    import torch
    from accelerate import Accelerator

    from trainers.data.chat_data import read_chat_file, resolve_data_path
    from trainers.config import load_config
    from trainers.models.model_builder import build_model
    from trainers.data.sft_data import tokenize_chats
    cfg = load_config("smoke/tiny_lora.yaml", ["lora.dropout=0.0", *overrides])
    torch.manual_seed(0)
    built = build_model(cfg.model, cfg.lora, cfg.quant, torch.float32, torch.device("cpu"), False)
    with torch.no_grad():
        for n, p in built.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    chats = read_chat_file(resolve_data_path("builtin:finance")[0]).chats[:n_chats]
    examples, _ = tokenize_chats(chats, built.tokenizer, "r1", max_len, True)
    return cfg, built, examples, Accelerator(cpu=True)


def input_spec(**kw):
    """A data-prepare input section for schema tests (the path is never read)."""
    from data_tools.prepare_config import InputConfig
    return InputConfig(path="src.jsonl", **kw)


def rejection_reason(obj, **kw) -> str:
    """The quarantine reason a raw row gets from the schema adapters under `input_spec(**kw)`."""
    import pytest
    from data_tools.quarantine import RowRejected
    from data_tools.schema import to_record
    with pytest.raises(RowRejected) as err:
        to_record(obj, input_spec(**kw), "src.jsonl", 1)
    return err.value.reason
