"""The paper's accuracy claim as a statistical test: each method tuned on the dev split, run on paired seeds,
compared with bootstrap intervals and the power to detect a difference (``hybridsmooth claim``)."""
