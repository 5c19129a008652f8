"""lfgate: check LLaMA-Factory projects before they train, then launch them."""

__version__ = "0.1.0"
