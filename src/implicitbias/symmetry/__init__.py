"""symmetry subpackage."""
