"""Static figures for the notebooks, drawn with matplotlib.figure.Figure (no pyplot global state)."""
