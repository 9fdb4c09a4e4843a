"""Reaction–diffusion family: six two-species systems on one base
(:mod:`.core`), with shared numerics (:mod:`._numerics`) and seeding
(:mod:`._seeding`)."""
