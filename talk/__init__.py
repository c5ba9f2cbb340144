"""Tools that build the talk from the executed notebook: the reveal.js deck, the README summary, notebook runs."""
