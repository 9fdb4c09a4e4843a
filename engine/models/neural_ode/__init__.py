"""Neural-ODE family: continuous-time systems integrated by torchdiffeq with
their solver's statistics (``ode_system``), a neural vector field trained live
(``neural_ode``), random rate networks at the edge of chaos
(``rate_network``) and graded-response Hopfield networks
(``continuous_hopfield``)."""
