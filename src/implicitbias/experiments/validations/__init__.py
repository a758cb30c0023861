"""Theory validations: simulated dynamics and discovered algebras against the predictions (``implicitbias validate``)."""
