"""The notebook widget. The only package of jupyter-labeler that imports ipywidgets or ipyevents.

``Labeler(dataset_or_source, **options)`` is the widget; ``label(source, **options)`` opens a
dataset and returns one.
"""

from .labeler import Labeler, label

__all__ = ["Labeler", "label"]
