"""Route modules, one per topic; each exposes ``router``."""
