"""Data for training: the bundled digits set, splits, mini-batches and augmentation.

Pure NumPy on purpose: nothing here imports the graph core, so data handling can be used
and tested on its own.
"""

from graphdl.data.augment import compose, gaussian_noise, random_shift, shift_images
from graphdl.data.batches import minibatches
from graphdl.data.digits import IMAGE_SHAPE, N_CLASSES, load_digits
from graphdl.data.splits import train_val_test_split

__all__ = [
    "IMAGE_SHAPE",
    "N_CLASSES",
    "compose",
    "gaussian_noise",
    "load_digits",
    "minibatches",
    "random_shift",
    "shift_images",
    "train_val_test_split",
]
