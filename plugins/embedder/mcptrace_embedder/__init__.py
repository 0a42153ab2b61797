"""The default embedder of mcptrace's semantic search: all-MiniLM-L6-v2 as int8 ONNX, run locally."""
