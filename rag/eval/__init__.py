"""Measurement, not product: `rag eval` and scripts/ (the product never imports this package).

benchmarks: retrieval on SQuAD-format data, answers on a question set, recorded LLM replies;
squad_answers: answers on a SQuAD-format dataset end to end; verdicts: judging answers;
baseline: a plain llama-index pipeline to compare with; tables: the Markdown tables.
"""
