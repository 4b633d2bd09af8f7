"""The notebook widget. The only package of jupyter-labeler that imports ipywidgets or ipyevents."""
