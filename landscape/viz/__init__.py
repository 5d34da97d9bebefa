"""Drawing: surfaces, curves and verdicts."""
