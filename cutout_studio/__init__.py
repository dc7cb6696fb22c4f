"""Cutout Studio: cut products out of photos with a U-Net mask, GrabCut brushes and clean edges."""

__version__ = "0.1.0"
