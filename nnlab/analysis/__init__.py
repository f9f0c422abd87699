"""Separation-index analysis: exact indices, forward feature ranking, activation extraction."""
