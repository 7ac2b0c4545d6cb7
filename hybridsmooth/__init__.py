"""hybridsmooth: put the hybrid-smoothness convergence theory of hybrid ZO/FO fine-tuning to the test."""
__version__ = "0.1.0"
