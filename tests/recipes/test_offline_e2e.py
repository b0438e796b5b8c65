"""Proof that a run talks to no one: `kdtune data prepare`, a full SFT and an eval, in one child
process whose every outbound connection and DNS lookup fails (a sitecustomize on PYTHONPATH patches
the socket module before anything else is imported) and is logged. The hub variables are removed
from the child's environment, so offline mode must come from kdtune itself; the manifests must say
so. Loopback and Unix sockets stay allowed (torchrun's rendezvous uses them; nothing here does)."""
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

GUARD = '''
import os, socket

_LOG = os.environ["KDTUNE_TEST_NET_LOG"]
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _local(address):
    if isinstance(address, (str, bytes)):          # AF_UNIX path
        return True
    host = str(address[0])
    return host in ("localhost", "::1") or host.startswith("127.")


def _refuse(what, address):
    with open(_LOG, "a", encoding="utf-8") as f:   # logged: a caller may swallow the error
        f.write(f"{what} {address!r}\\n")
    raise OSError(101, f"network blocked by the offline test: {what} {address!r}")


def connect(self, address):
    if not _local(address):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if not _local(address):
        _refuse("connect_ex", address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _local((host,)):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''

DRIVER = '''
import json, socket, sys
try:                                        # the guard is live: this must fail, and be logged
    socket.create_connection(("huggingface.co", 443), timeout=2)
    sys.exit("the network guard is not active")
except OSError:
    pass
from recipes.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code:
        sys.exit(f"kdtune {' '.join(argv)} exited {code}")
'''


def test_prepare_sft_and_eval_run_with_the_network_blocked(tmp_path):
    guard_dir = tmp_path / "guard"
    guard_dir.mkdir()
    (guard_dir / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    log = tmp_path / "net.log"
    hub_flags = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "KDTUNE_SET_HF_HUB_OFFLINE")
    env = {k: v for k, v in os.environ.items() if k not in hub_flags}
    env.update(PYTHONPATH=os.pathsep.join([str(guard_dir), str(ROOT)]), KDTUNE_TEST_NET_LOG=str(log),
               OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf"))   # an empty hub cache too
    data, runs = tmp_path / "data", tmp_path / "runs"
    steps = [
        ["data", "prepare", "--input", str(ROOT / "data_tools/shipped/sft/finance.jsonl"), "--out", str(data),
         "--workers", "1", "output.eval_fraction=0.1"],
        ["run", "sft", "--config", "smoke/tiny_lora.yaml", f"data.path={data / 'train.jsonl'}",
         "train.max_steps=3", "train.save_every=0", "data.max_seq_len=96", "eval.max_batches=1",
         f"output.dir={runs}", "output.name=sft"],
        ["run", "eval", "--config", "eval/tiny_mcqa_finance.yaml", "eval.n=8", f"adapter={runs / 'sft' / 'adapter'}",
         f"output.dir={runs}", "output.name=eval"],
    ]
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(steps)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # exactly one outbound attempt: the driver's own probe of the guard
    assert log.read_text(encoding="utf-8").splitlines() == ["getaddrinfo 'huggingface.co'"]

    card = json.loads((data / "datacard.json").read_text(encoding="utf-8"))
    assert card["counts"]["per_split"]["train"] > 0
    for name in ("sft", "eval"):
        manifest = json.loads((runs / name / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["offline"] is True, manifest
        assert manifest["offline_how"].startswith("kdtune set HF_HUB_OFFLINE=1")
    assert (runs / "sft" / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((runs / "eval" / "eval.json").read_text(encoding="utf-8"))["n"] == 8
