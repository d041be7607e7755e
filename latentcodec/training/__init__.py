"""Lightning training: rate-distortion modules, data modules, losses (see the open issues)."""
