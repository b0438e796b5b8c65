"""Artefacts for on-premise serving: one GGUF file for llama.cpp/Ollama (gguf_arch, gguf_vocab,
gguf_export), its check against tools kdtune did not write (gguf_check), the model card
(model_card) and the adapter layout vLLM's LoRA loader expects (adapter_layout)."""
