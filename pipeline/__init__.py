"""The production side of the tutorial: Seldon step folders, manifests, and the local serving code."""
