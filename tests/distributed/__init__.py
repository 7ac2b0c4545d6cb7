"""Tests of the ZO step on more than one process (a package: its conftest must not clash with another directory's)."""
