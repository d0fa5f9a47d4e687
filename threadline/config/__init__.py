"""Configuration: the threadline.yaml models, loading with ${ENV} interpolation, the starter file and the JSON Schema.
May use the rule layer (its settings models nest under `rules:`); never the application."""
