"""One ComponentResource per concern; each renders its services through a target."""
