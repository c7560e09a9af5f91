"""pytest plugin (entry point ``amlyze_contracts``): runs the contract suite as pytest tests.

Options are registered here; the suite itself is imported only when a base URL is given.
"""
