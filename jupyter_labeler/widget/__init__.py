"""The notebook widget. The only package of jupyter-labeler that imports ipywidgets or anywidget.

The image grid is an anywidget whose browser side is ``static/grid.js`` and ``static/grid.css``
(shipped as they are: no build step).

``Labeler(dataset_or_source, **options)`` is the widget; ``label(source, **options)`` opens a
dataset and returns one.
"""

from .labeler import Labeler, label

__all__ = ["Labeler", "label"]
