"""Analysis of simulated states (pure numpy/scipy): pattern morphology, grid-scale power.

This package's ``__init__`` imports nothing, so the GUI process can read
:data:`PATTERN_CLASSES` (preset validation) without loading scipy.
"""

#: the pattern classes a preset's contract may claim (see engine.analysis.morphology)
PATTERN_CLASSES = ("uniform", "spots", "stripes", "waves", "chaos")
