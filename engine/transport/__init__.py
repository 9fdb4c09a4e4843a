"""The engine process and its clients: protocol, signing, heartbeat, server, memory budget, clients.

May import engine's root modules, models, analysis, storage; never sweep, app, widgets or Qt.
"""
