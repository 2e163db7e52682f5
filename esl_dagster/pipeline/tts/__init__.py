"""Text-to-speech: voice casting, providers (ElevenLabs, offline espeak-ng), ffmpeg assembly, cache."""
