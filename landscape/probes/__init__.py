"""Landscape scans: directions, gradient estimates, metrics at points, curvature, the scan store and the scan itself."""
