"""Tests for graphdl.data: the bundled digits, splits, mini-batches and augmentation."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from graphdl.data import (
    compose,
    gaussian_noise,
    load_digits,
    minibatches,
    random_shift,
    shift_images,
    train_val_test_split,
)

# Facts about the real data set, computed once from the shipped file.
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
RAW_PIXEL_SUM = 561718
FIRST_IMAGE = [
    [0, 0, 5, 13, 9, 1, 0, 0],
    [0, 0, 13, 15, 10, 15, 5, 0],
    [0, 3, 15, 2, 0, 11, 8, 0],
    [0, 4, 12, 0, 0, 8, 8, 0],
    [0, 5, 8, 0, 0, 9, 8, 0],
    [0, 4, 11, 0, 1, 12, 7, 0],
    [0, 2, 14, 5, 10, 12, 0, 0],
    [0, 0, 6, 13, 10, 0, 0, 0],
]


# --- digits -------------------------------------------------------------------------------


def test_digits_shapes_dtypes_and_range():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.bincount(y).tolist() == CLASS_COUNTS
    assert y[:10].tolist() == list(range(10))


def test_digits_raw_values_match_shipped_data():
    X, y = load_digits(dtype="int64", scale=False)
    assert X.min() == 0 and X.max() == 16
    assert int(X.sum()) == RAW_PIXEL_SUM
    assert X[0].reshape(8, 8).tolist() == FIRST_IMAGE and y[0] == 0
    scaled, _ = load_digits()
    np.testing.assert_array_equal(scaled * 16, X)


def test_digits_dtype_and_fresh_copies():
    X32, _ = load_digits(dtype="float32")
    assert X32.dtype == np.float32
    X, y = load_digits()
    X[:] = -1.0
    y[:] = -1
    X2, y2 = load_digits()
    assert X2.min() == 0.0 and y2.min() == 0


def test_digits_scale_needs_float():
    with pytest.raises(ValueError, match="floating dtype"):
        load_digits(dtype="int64", scale=True)


def test_digits_file_is_small_and_pickle_free():
    from importlib.resources import files

    resource = files("graphdl.data").joinpath("digits.npz")
    size = len(resource.read_bytes())
    assert 10_000 < size < 100_000
    with resource.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["images", "labels"]
        assert archive["images"].dtype == np.uint8 and archive["labels"].dtype == np.uint8


# --- splits -------------------------------------------------------------------------------


def test_split_sizes_and_disjoint_cover():
    _, y = load_digits()
    ids = np.arange(len(y))
    (tr, ytr), (va, yva), (te, yte) = train_val_test_split(ids, y)
    # round(0.15 * 1797) = round(269.55) = 270
    assert (len(tr), len(va), len(te)) == (1257, 270, 270)
    assert len(ytr) == 1257 and len(yva) == 270 and len(yte) == 270
    all_ids = np.concatenate([tr, va, te])
    assert sorted(all_ids.tolist()) == ids.tolist()
    # Each row keeps its own label.
    np.testing.assert_array_equal(y[tr], ytr)
    np.testing.assert_array_equal(y[te], yte)


def test_split_is_stratified():
    X, y = load_digits()
    total = np.array(CLASS_COUNTS)
    (_, ytr), (_, yva), (_, yte) = train_val_test_split(X, y, val=0.15, test=0.15, seed=3)
    # Validation and test classes lie within one sample of their exact proportional share;
    # training gets the rest, so within two.
    for part, n, slack in ((ytr, 1257, 2.0), (yva, 270, 1.0), (yte, 270, 1.0)):
        counts = np.bincount(part, minlength=10)
        assert np.all(np.abs(counts - total * n / 1797) < slack), counts
    # Per class, the three parts add up to the class count.
    per_class = sum(np.bincount(p, minlength=10) for p in (ytr, yva, yte))
    assert per_class.tolist() == CLASS_COUNTS


def test_split_deterministic_per_seed():
    X, y = load_digits()
    a = train_val_test_split(X, y, seed=7)
    b = train_val_test_split(X, y, seed=7)
    c = train_val_test_split(X, y, seed=8)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][1], c[0][1])


def test_split_unstratified_sizes_and_shuffled():
    y = np.repeat([0, 1], 50)
    ids = np.arange(100)
    (tr, _), (va, _), (te, _) = train_val_test_split(ids, y, val=0.2, test=0.1, stratify=False)
    assert (len(tr), len(va), len(te)) == (70, 20, 10)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == ids.tolist()
    assert not np.array_equal(tr, np.sort(tr))


def test_split_small_class_does_not_break():
    y = np.array([0] * 20 + [1])  # one lonely sample of class 1
    (tr, ytr), (va, yva), (te, yte) = train_val_test_split(np.arange(21), y, val=0.2, test=0.2)
    assert (len(tr), len(va), len(te)) == (13, 4, 4)
    assert sorted(np.concatenate([ytr, yva, yte]).tolist()) == sorted(y.tolist())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val": -0.1}, "val=-0.1"),
        ({"test": 1.0}, "test=1.0"),
        ({"val": 0.6, "test": 0.4}, "val=0.6, test=0.4"),
    ],
)
def test_split_rejects_bad_fractions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        train_val_test_split(np.zeros((10, 2)), np.zeros(10), **kwargs)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"len\(X\)=10, len\(y\)=9"):
        train_val_test_split(np.zeros((10, 2)), np.zeros(9))


def test_split_rejects_no_training_left():
    with pytest.raises(ValueError, match="no training samples"):
        train_val_test_split(np.zeros((2, 1)), np.array([0, 1]), val=0.45, test=0.45)


# --- minibatches --------------------------------------------------------------------------


def test_minibatches_cover_each_sample_once():
    X = np.arange(103)[:, None] * np.ones((1, 3))
    y = np.arange(103)
    batches = list(minibatches(X, y, 10, rng=np.random.default_rng(0)))
    assert [len(b) for _, b in batches] == [10] * 10 + [3]
    seen = np.concatenate([b for _, b in batches])
    assert sorted(seen.tolist()) == list(range(103))
    assert not np.array_equal(seen, np.arange(103))  # actually shuffled
    for xb, yb in batches:  # rows stay paired with their labels
        np.testing.assert_array_equal(xb[:, 0], yb)


def test_minibatches_drop_last_and_no_shuffle():
    y = np.arange(25)
    batches = list(minibatches(y[:, None], y, 10, shuffle=False, drop_last=True))
    assert [b.tolist() for _, b in batches] == [list(range(10)), list(range(10, 20))]


def test_minibatches_seeded_and_epochs_differ():
    y = np.arange(50)
    first = [b for _, b in minibatches(y, y, 8, rng=np.random.default_rng(5))]
    again = [b for _, b in minibatches(y, y, 8, rng=np.random.default_rng(5))]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    rng = np.random.default_rng(5)
    epoch1 = np.concatenate([b for _, b in minibatches(y, y, 8, rng=rng)])
    epoch2 = np.concatenate([b for _, b in minibatches(y, y, 8, rng=rng)])
    assert not np.array_equal(epoch1, epoch2)
    assert sorted(epoch2.tolist()) == y.tolist()


def test_minibatches_validates_at_call_time():
    with pytest.raises(ValueError, match="batch_size=0"):
        minibatches(np.zeros(4), np.zeros(4), 0)
    with pytest.raises(ValueError, match=r"len\(X\)=4, len\(y\)=3"):
        minibatches(np.zeros(4), np.zeros(3), 2)
    with pytest.raises(TypeError, match="batch_size"):
        minibatches(np.zeros(4), np.zeros(4), 2.5)


# --- augmentation -------------------------------------------------------------------------


def _one_pixel(r: int, c: int, shape=(8, 8)) -> np.ndarray:
    img = np.zeros(shape)
    img[r, c] = 1.0
    return img.reshape(1, -1)


def test_shift_images_moves_pixels_exactly():
    img = np.arange(1, 10, dtype=float).reshape(3, 3)
    out = shift_images(img.reshape(1, 9), dy=1, dx=-1, image_shape=(3, 3)).reshape(3, 3)
    expected = np.array([[0, 0, 0], [2, 3, 0], [5, 6, 0]], dtype=float)
    np.testing.assert_array_equal(out, expected)
    out = shift_images(img.reshape(1, 9), dy=-1, dx=2, image_shape=(3, 3)).reshape(3, 3)
    np.testing.assert_array_equal(out, [[0, 0, 4], [0, 0, 7], [0, 0, 0]])
    # A pixel pushed over the border is lost, the rest is zero fill.
    assert shift_images(_one_pixel(0, 0), -1, 0).sum() == 0.0
    # Non-square images: rows and columns are not confused.
    wide = np.arange(6, dtype=float).reshape(1, 6)  # 2x3: [[0,1,2],[3,4,5]]
    np.testing.assert_array_equal(shift_images(wide, 0, 1, (2, 3)), [[0, 0, 1, 0, 3, 4]])


def test_random_shift_moves_each_image_within_max_shift():
    rng = np.random.default_rng(0)
    X = np.repeat(_one_pixel(4, 4), 400, axis=0)
    out = random_shift(X, rng, max_shift=1)
    assert out.shape == X.shape and out.dtype == X.dtype
    offsets = set()
    for row in out.reshape(-1, 8, 8):
        (r,), (c,) = np.nonzero(row)
        assert row.sum() == 1.0
        offsets.add((int(r) - 4, int(c) - 4))
    # All nine offsets in {-1, 0, 1}^2 occur, and nothing else.
    assert offsets == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}


def test_random_shift_matches_deterministic_shift():
    X, _ = load_digits()
    X = X[:50]
    out = random_shift(X, np.random.default_rng(1), max_shift=2)
    for row_in, row_out in zip(X, out, strict=True):
        candidates = [
            shift_images(row_in[None], dy, dx)[0] for dy in range(-2, 3) for dx in range(-2, 3)
        ]
        assert any(np.array_equal(row_out, c) for c in candidates)


def test_augmenters_do_not_modify_input():
    X, _ = load_digits()
    X = X[:20]
    before = X.copy()
    rng = np.random.default_rng(0)
    assert random_shift(X, rng) is not X
    assert gaussian_noise(X, rng) is not X
    compose(random_shift, gaussian_noise)(X, rng)
    np.testing.assert_array_equal(X, before)


def test_gaussian_noise_statistics():
    X = np.full((200, 64), 0.5)
    out = gaussian_noise(X, np.random.default_rng(0), std=0.05)
    noise = out - X
    # 12,800 draws: the sample std is within ~1% of the truth, the mean near 0.
    assert abs(noise.std() - 0.05) < 0.0015
    assert abs(noise.mean()) < 0.0015
    assert gaussian_noise(X.astype(np.float32), np.random.default_rng(0)).dtype == np.float32
    np.testing.assert_array_equal(gaussian_noise(X, np.random.default_rng(0), std=0.0), X)


def test_compose_applies_in_order():
    calls = []

    def add(k):
        def f(X, rng):
            calls.append(k)
            return X + k

        return f

    X = np.zeros((2, 2))
    out = compose(add(1), add(10))(X, np.random.default_rng(0))
    assert calls == [1, 10]
    np.testing.assert_array_equal(out, np.full((2, 2), 11.0))
    same = compose()(X, np.random.default_rng(0))
    assert same is not X and np.array_equal(same, X)


def test_compose_with_partials_is_reproducible():
    X, _ = load_digits()
    aug = compose(partial(random_shift, max_shift=1), partial(gaussian_noise, std=0.1))
    a = aug(X[:10], np.random.default_rng(4))
    b = aug(X[:10], np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_augment_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"X.shape=\(3, 10\)"):
        random_shift(np.zeros((3, 10)), np.random.default_rng(0))
    with pytest.raises(TypeError):
        compose(42)
