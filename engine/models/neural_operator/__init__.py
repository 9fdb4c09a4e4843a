"""Neural-operator family: PDE solvers that serve as ground truth for learned
surrogates, and (later) the surrogates themselves.

``burgers`` (1D viscous Burgers) and ``navier_stokes`` (2D incompressible flow
in vorticity form, the setting of Li et al.'s Fourier-neural-operator paper)
are ordinary live models. Both run on a batched functional core,
:mod:`._spectral`, that data-generation scripts call directly:
``burgers_solve``, ``navier_stokes_solve`` and the seeded initial-condition
draws ``burgers_grf`` and ``navier_stokes_grf`` work on any device and dtype.
"""
