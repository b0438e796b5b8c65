"""One GGUF file -> a plain transformers directory (fp32 safetensors + tokenizer) and its provenance.

trainers.models.model_sources decides when and where (the sha256-keyed cache); this module does the
conversion. transformers reads the GGUF (the `gguf` package dequantises every tensor); the model
is then saved as an ordinary fp32 checkpoint, so the dequantised values are kept exactly, and the
tokenizer is saved so that kdtune's loader gets back the very token ids the GGUF gives (checked).
"""
from __future__ import annotations

from pathlib import Path

from trainers.errors import UserError
from trainers.models.model_sources import INSTALL_HINT


def gguf_metadata(path: Path) -> dict:
    """The GGUF header's scalar fields (arrays such as the vocabulary come back as their length)."""
    from transformers.integrations.gguf.reader import read_gguf_metadata
    return read_gguf_metadata(str(path))[0]


def quantisation_name(file_type: int | None) -> str | None:
    if file_type is None:
        return None
    try:
        from gguf import LlamaFileType
        return LlamaFileType(file_type).name.removeprefix("MOSTLY_")
    except (ImportError, ValueError):
        return f"file_type {file_type}"


def convert_gguf(src: Path, out: Path, record: dict) -> dict:
    """Dequantise `src` into `out` (transformers layout) and return its provenance record."""
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise UserError(f"reading GGUF files needs the gguf package: {INSTALL_HINT} (or pip install gguf)") from None
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    meta = gguf_metadata(src)
    arch = meta.get("general.architecture")
    kwargs = dict(gguf_file=src.name, local_files_only=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(src.parent, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(src.parent, **kwargs)
    except (ValueError, OSError, KeyError) as e:
        raise UserError(f"cannot convert {src} ({arch} GGUF) with transformers {transformers.__version__}: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    # The dequantised model still carries the GGUF quantiser; it is plain fp32 now, and
    # save_pretrained refuses a model it believes is quantised.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = record.get("name") or src.stem
    added_template = _gemma_chat_setup(model, tokenizer)
    model.save_pretrained(out)
    tokenizer_class = save_tokenizer(tokenizer, out)
    return {**record, "architecture": arch, "model_type": model.config.model_type,
            "gguf_name": meta.get("general.name"), "gguf_license": meta.get("general.license"),
            "quantisation": quantisation_name(meta.get("general.file_type")),
            "parameters": sum(p.numel() for p in model.parameters()), "dtype": "float32",
            "tokenizer_class": tokenizer_class,
            "chat_template": "added: Gemma turn format (the GGUF has none)" if added_template else
            ("from the GGUF" if getattr(tokenizer, "chat_template", None) else None),
            "note": "weights dequantised from the quantised GGUF: the real model, slightly perturbed",
            "converted_with": {"transformers": transformers.__version__, "gguf": _version("gguf"),
                               "torch": torch.__version__}}


# Texts whose token ids the saved tokenizer must reproduce: Korean, spacing, turn markers.
PROBES = ["카드 분실 신고는 앱에서도 되나요? 결제일은 25일 ㅠㅠ", "Hello, World!\n  two  spaces\tand a tab ",
          "<start_of_turn>user\n안녕<end_of_turn>\n", "<|im_start|>user\nOD 치수 +0.05 OOT<|im_end|>\n"]


def save_tokenizer(tokenizer, out: Path) -> str:
    """Save `tokenizer` so that kdtune's loader gets back exactly what the GGUF describes, checked on
    PROBES. -> the class saved. transformers reloads a tokenizer by its class, which may rebuild the
    pipeline the way that model type usually tokenises (a Gemma class splits on spaces, SentencePiece
    style); when that does not fit this file's vocabulary, the exact pipeline is saved under the
    generic class instead, which kdtune's loader reads as is."""
    from transformers import PreTrainedTokenizerFast
    expected = [tokenizer(t)["input_ids"] for t in PROBES]
    tokenizer.save_pretrained(out)
    if _reloads_as(out, expected, len(tokenizer)):
        return type(tokenizer).__name__
    specials = {k: getattr(tokenizer, k) for k in ("bos_token", "eos_token", "unk_token", "pad_token")
                if getattr(tokenizer, k, None) is not None}
    generic = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, **specials)
    generic.chat_template = getattr(tokenizer, "chat_template", None)
    (out / "tokenizer_config.json").unlink()
    generic.save_pretrained(out)
    if not _reloads_as(out, expected, len(tokenizer)):
        raise UserError(f"the tokenizer in this GGUF ({type(tokenizer).__name__}) does not reload with the "
                        f"same token ids after saving; kdtune cannot use it safely")
    return "PreTrainedTokenizerFast"


def _reloads_as(out: Path, expected: list[list[int]], size: int) -> bool:
    from trainers.models.model_builder import tokenizer_loader
    back = tokenizer_loader(str(out)).from_pretrained(str(out))
    try:
        return len(back) == size and [back(t)["input_ids"] for t in PROBES] == expected
    except Exception:   # e.g. a rebuilt pipeline meeting a character its vocabulary lacks
        return False


def _gemma_chat_setup(model, tokenizer) -> bool:
    """A Gemma vocabulary without a chat template (the base model's GGUF): give it the Gemma turn
    format that kdtune trains with (trainers.data.chat_format), so generation prompts match training, and
    let `<end_of_turn>` end generation as it ends a trained answer. -> whether a template was added."""
    from trainers.data.chat_format import GEMMA_CHAT_TEMPLATE
    end_turn = tokenizer.get_vocab().get("<end_of_turn>")
    if end_turn is None or getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    eos = model.generation_config.eos_token_id
    eos = list(eos) if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []
    model.generation_config.eos_token_id = eos + [end_turn] if end_turn not in eos else eos
    return True


def _version(dist: str) -> str | None:
    import importlib.metadata
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
