"""Zeroth-order gradient estimators and the in-place seed trick."""
