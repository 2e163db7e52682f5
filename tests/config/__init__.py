"""Config loaders, providers and settings."""
