"""Models whose equations the user types: ``custom_ode`` and ``custom_rd``."""
