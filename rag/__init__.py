"""Cited answers from a folder of news articles: corpus → index → evidence → verified answer."""

__version__ = "0.1.0"
