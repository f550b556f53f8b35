"""The index: embedders, vectors (FAISS or Milvus), BM25, manifest, and keeping it current."""
