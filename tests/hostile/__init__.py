"""Regression tests of issue 18: every input a user or an admin controls, attacked."""
