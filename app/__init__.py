"""Attractor Lab desktop application (Qt). Never imports torch: the engine runs in its own process."""
