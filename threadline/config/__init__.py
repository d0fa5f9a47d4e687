"""Configuration: the threadline.yaml models, loading with ${ENV} interpolation, and the starter file."""
