"""The LLM backends: a registry of llama.cpp, OpenAI-compatible and extractive answerers."""
