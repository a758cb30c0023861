"""dynamics subpackage."""
