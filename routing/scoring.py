"""The linear scores of a batch of texts from the feature columns each one holds: the
arithmetic of the scikit-learn pipeline (sublinear TF times IDF, L2 norm per vectorizer,
linear weights) on plain arrays, so that a batch pays numpy's per-call cost once."""

import numpy as np


def batch_scores(columns: np.ndarray, texts: np.ndarray, count: int, idf: np.ndarray,
                 idf_weights: np.ndarray, split: int) -> np.ndarray:
    """Each text's linear scores (one row per text, one column per class, no intercept).

    `columns` and `texts` are parallel: one entry per occurrence of a term, its column and
    the index of its text, and the occurrences of each column come in text order. Columns
    below `split` belong to one vectorizer, the others to the second, and each vectorizer's
    terms of a text are L2-normalised alone, as a FeatureUnion of two TfidfVectorizers does.
    `idf_weights` holds one row per class: each column's weight times its IDF.

    Counting repeats needs equal (column, text) pairs side by side. A stable sort of the
    columns alone gives that, since each column's texts already come in order, and numpy
    sorts 16-bit keys by radix in linear time: three times faster than sorting
    (text, column) keys of 32 bits, which cost most of a batch's scoring."""
    scores = np.zeros((count, len(idf_weights)))
    if not columns.size:
        return scores
    order = np.argsort(columns, kind="stable")
    columns, texts = columns.take(order), texts.take(order)
    changes = (columns[1:] != columns[:-1]) | (texts[1:] != texts[:-1])
    starts = np.flatnonzero(np.concatenate(([True], changes)))
    sublinear_tf = 1.0 + np.log(np.diff(starts, append=columns.size))
    columns, texts = columns.take(starts).astype(np.intp), texts.take(starts)
    tf_idf = sublinear_tf * idf.take(columns)
    # Sums per text and vectorizer, each divided by its own norm at the end: one division
    # per text rather than one per term.
    parts = texts * 2 + (columns >= split)
    norms = np.sqrt(np.bincount(parts, weights=tf_idf * tf_idf, minlength=2 * count))
    norms[norms == 0.0] = 1.0  # a vectorizer with no term in a text: its sums are 0 too
    for label, row in enumerate(idf_weights):
        sums = np.bincount(parts, weights=sublinear_tf * row.take(columns),
                           minlength=2 * count) / norms
        scores[:, label] = sums[0::2] + sums[1::2]
    return scores


def text_scores(columns: np.ndarray, idf: np.ndarray, idf_weights: np.ndarray,
                split: int) -> np.ndarray:
    """`batch_scores` of a single text (one row): with no texts to tell apart it needs half
    the numpy calls, which is most of the cost of scoring one message."""
    scores = np.zeros((1, len(idf_weights)))
    if not columns.size:
        return scores
    columns = np.sort(columns)
    starts = np.flatnonzero(np.concatenate(([True], columns[1:] != columns[:-1])))
    sublinear_tf = 1.0 + np.log(np.diff(starts, append=columns.size))
    columns = columns.take(starts).astype(np.intp)
    tf_idf = sublinear_tf * idf.take(columns)
    weighted = idf_weights.take(columns, axis=1) * sublinear_tf
    cut = int(np.searchsorted(columns, split))
    for part in (slice(None, cut), slice(cut, None)):
        norm = np.sqrt(tf_idf[part] @ tf_idf[part])
        if norm:
            scores[0] += weighted[:, part].sum(axis=1) / norm
    return scores
