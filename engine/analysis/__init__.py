"""Analysis: of simulated states (pattern morphology) and of vector fields (dynamical-systems toolkit).

This package's ``__init__`` imports nothing, so the GUI process can read
:data:`PATTERN_CLASSES` (preset validation) without loading scipy or torch.
The dynamical-systems functions load on first use::

    from attractor_lab.engine.analysis import continuation, orbit_diagram, basins, nullclines

========================  ============================================================
``continuation``          branches of equilibria in one parameter: stability, folds,
                          Hopf and branch points (:mod:`.equilibria`)
``switch_branch``         the other branch through a branch point (:mod:`.equilibria`)
``cycles_from_hopf``      the periodic orbits born at a Hopf point, by shooting (:mod:`.cycles`)
``cycles_from_orbit``     the periodic orbits through an attracting cycle (:mod:`.cycles`)
``orbit_diagram``         maxima or section crossings against a parameter, one batch (:mod:`.orbit`)
``basins``                basins of attraction on a plane of starts (:mod:`.attractors`)
``nullclines``            nullclines and the fixed points at their crossings (:mod:`.phase_plane`)
``marching_squares``      the zero contour of a grid as polylines (:mod:`.phase_plane`)
``vector_field``          a model, preset or Simulation as the field they analyse; a reaction–
                          diffusion model as its kinetics (:mod:`.fields`)
``save``                  any result to .npz or .csv, atomically (:mod:`.export`)
========================  ============================================================
"""

#: the pattern classes a preset's contract may claim (see engine.analysis.morphology)
PATTERN_CLASSES = ("uniform", "spots", "stripes", "waves", "chaos")

_LAZY = {
    "continuation": "equilibria", "switch_branch": "equilibria", "Branch": "equilibria",
    "SpecialPoint": "equilibria", "cycles_from_hopf": "cycles", "cycles_from_orbit": "cycles", "CycleBranch": "cycles", "orbit_diagram": "orbit", "OrbitDiagram": "orbit",
    "distinct_values": "orbit", "basins": "attractors", "Basins": "attractors", "nullclines": "phase_plane",
    "Nullclines": "phase_plane", "marching_squares": "phase_plane", "vector_field": "fields",
    "VectorField": "fields", "save": "export",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
