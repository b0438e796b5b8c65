"""What a model is and how it comes to be: architecture shapes and the shipped catalogue
(architectures/*.json), model sources (hub, local, GGUF in a pip package, tiny:), loading and
building with LoRA/QLoRA, the precision it runs in, the trainable set read back from the wrapped
model, layer subsets for smaller students, tiny random models for tests, and batched generation."""
