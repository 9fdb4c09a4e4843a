"""Hopfield family: the classical ±1 network (Hebbian, diluted, dense,
unsupervised) and the modern continuous network."""
