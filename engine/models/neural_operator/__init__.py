"""Neural-operator family: PDE solvers as ground truth, Fourier neural operators
trained on them, and the live race between the two.

``burgers`` (1D viscous Burgers) and ``navier_stokes`` (2D incompressible flow
in vorticity form, the setting of Li et al.'s Fourier-neural-operator paper)
are ordinary live models. Both run on a batched functional core,
:mod:`._spectral`, that data-generation scripts call directly:
``burgers_solve``, ``navier_stokes_solve`` and the seeded initial-condition
draws ``burgers_grf`` and ``navier_stokes_grf`` work on any device and dtype.

``neural_operator`` (:mod:`.neural_operator`) races a trained Fourier neural
operator (:mod:`._fno`) against the solver it learned from. ``train-operator``
(:mod:`._training`, data from :mod:`._data`) makes the checkpoints,
weights.safetensors plus card.json (:mod:`._checkpoint`); one per system ships
in presets/operators/.
"""
