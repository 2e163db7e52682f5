"""Configuration files (presets, student profiles, voices map, voice catalog) and their providers."""
