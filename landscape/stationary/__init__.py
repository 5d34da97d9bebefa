"""Stationary points: the three-way verdict (stationarity tests on gradient estimates)."""
