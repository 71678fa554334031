"""Docker for the end-to-end tests: the engine, a locally built base image, the app images."""
