"""Qt and vispy views of numpy data (no torch, nothing from engine/)."""
