"""Parameter sweeps: from one live run to a phase diagram.

A sweep file (TOML, data only; :mod:`engine.sweep.spec`) names a base preset,
one or two parameter axes, seeds per point, how long each point runs and which
observables to keep, reduced over time. :func:`engine.sweep.execute.run_sweep`
runs its points headless through the scripting API on a Dask cluster (an
embedded ``LocalCluster`` by default, or a scheduler's address) and writes
them, as they arrive, to a Zarr store (:mod:`engine.sweep.store`) that a
stopped sweep resumes from.

Nothing here is model-specific: axes are checked against the model's declared
parameters, outputs against its observables and state, and theory lines come
from :meth:`engine.models.base.Model.theory_lines`.

Modules: ``spec`` (parsing and validation; no torch), ``store`` (Zarr; numpy
only, the GUI reads it), ``worker`` (runs points; torch), ``execute`` (the
Dask client side). Dask and Zarr are the optional ``[sweep]`` extra.
"""

#: what to install when Dask or Zarr is missing
EXTRA_HINT = "install the sweep extra: pip install 'attractor-lab[sweep]'"
