"""Theory solvers (pure numpy/scipy): predictions shown beside the simulations."""
