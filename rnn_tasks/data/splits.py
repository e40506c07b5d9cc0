"""Seeded random splits of independent examples, optionally grouped."""

import numpy as np

from rnn_tasks.errors import UserError

SPLITS = ("train", "validation", "test")


def group_split(keys, fractions, seed, groups="group(s)", dropped=""):
    """Row indices of train / validation / test, every key's rows in one split.

    Args:
        keys: `(n,)` group key per row (e.g. a movie name, a source sentence;
            the row's own index makes every row its own group).
        fractions: three positive numbers, the share of groups per split.
        seed: the shuffle seed.
        groups: what the keys are, for the error of a split left empty.
        dropped: that error's second advice, where rows were left out before the split
            (`"raise data.max_caption_length: 30 of 40 captions are longer"`).

    Returns:
        `{split: row indices}`, each shuffled.

    Example:
    >>> parts = group_split(["a", "a", "b", "c", "d"], [0.5, 0.25, 0.25], seed=0)
    >>> sorted(len(rows) for rows in parts.values())
    [1, 1, 3]
    """
    if len(fractions) != 3 or min(fractions) <= 0:
        raise UserError(f"recipe: `data.split` must be 3 positive fractions, got {list(fractions)}")
    rng = np.random.default_rng(seed)
    keys = np.asarray(keys)
    unique, which = np.unique(keys, return_inverse=True)
    order = rng.permutation(len(unique))
    cuts = np.round(np.cumsum(fractions) / sum(fractions) * len(unique)).astype(int)
    split_of_group = np.empty(len(unique), dtype=int)
    split_of_group[order] = np.searchsorted(cuts, np.arange(len(unique)), side="right")
    parts = {}
    for index, split in enumerate(SPLITS):
        rows = rng.permutation(np.flatnonzero(split_of_group[which] == index))
        if len(rows) == 0:
            raise UserError(f"data: the {split} split is empty: the {len(keys)} usable rows hold "
                            f"{len(unique)} distinct {groups}, and all rows of one go to one "
                            f"split (split {list(fractions)}); use data with more {groups}"
                            + (f", or {dropped}" if dropped else ""))
        parts[split] = rows
    return parts


def group_keys(names):
    """Split keys from group names: rows named alike share a key, and a row whose name is
    empty (an unknown group) is a group of its own, not one group of every such row.

    Example:
    >>> group_keys(["a", "", "a", " ", "b"]).tolist()
    [0, 2, 0, 3, 1]
    """
    names = np.array([str(name) for name in names], dtype=object)
    blank = np.array([not name.strip() for name in names], dtype=bool)
    keys = np.empty(len(names), dtype="int64")
    keys[~blank] = np.unique(names[~blank], return_inverse=True)[1]
    keys[blank] = keys[~blank].max(initial=-1) + 1 + np.arange(int(blank.sum()))
    return keys
