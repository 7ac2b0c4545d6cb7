"""Theory: bound calculators (the paper's theorem as stated, reference Theorem R), exact recursions, assumption
checks, and the numbered checks of THEORY 7 (``claims``)."""
