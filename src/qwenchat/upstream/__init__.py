"""OpenAI-compatible replicas (vLLM, SGLang, DashScope) as backends: not built yet."""
