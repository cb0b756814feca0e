"""Helpers shared by the test modules: numerical gradients, checks of example pictures."""
