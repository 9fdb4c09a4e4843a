"""What is stored: presets and their contracts, trajectory recordings, preset thumbnails.

May import engine's root modules, equations, theory, models, analysis; never transport or Qt.
"""
