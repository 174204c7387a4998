"""The cockpit's conversational model: prompt format, tokenizer, training, ONNX Runtime GenAI export and runtime."""
