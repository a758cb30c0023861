"""The Forward-Forward representation study (Tosato et al., arXiv 2305.18353)."""
