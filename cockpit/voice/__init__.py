"""The cockpit's voice pipeline: audio in (WAV, microphone), voice activity detection, wake phrase, speech
recognition with a domain language model, spoken replies (espeak-ng), and cabin noise for robustness tests."""
