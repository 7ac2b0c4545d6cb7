"""Theory: bound calculators (seed theorem, reference Theorem R), exact recursions, assumption checks."""
