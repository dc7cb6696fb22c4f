"""Training our own mask models: data and splits, synthetic product photos, losses, the trainer.

Everything here is headless (numpy, OpenCV, torch); ``cutout-studio train`` and
``cutout-studio eval --split val`` are its fronts.
"""
