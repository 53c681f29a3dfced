"""Spin-up to steady state: equilibrium criteria, brute-force cycles and the solver."""
