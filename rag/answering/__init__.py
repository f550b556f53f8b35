"""Question in, cited answer out: retrieval, evidence, prompts, checks, and briefing notes."""
