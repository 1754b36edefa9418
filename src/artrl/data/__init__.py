"""Image data sets for the score models (scikit-learn digits)."""

from artrl.data.digits import (
    N_CLASSES,
    RESOLUTIONS,
    from_uint8,
    load_digits_images,
    split_indices,
    to_uint8,
)

__all__ = [
    "N_CLASSES",
    "RESOLUTIONS",
    "from_uint8",
    "load_digits_images",
    "split_indices",
    "to_uint8",
]
