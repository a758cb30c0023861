"""The symmetry-bias paper's experiments (arXiv 2601.06597, v2 Figs. 2-6) and the noise/init ablation."""
