"""Near-duplicate detection: MinHash signatures on character 5-grams, banded LSH, exact check.

A review posted on two platforms with one word changed, or an email sent twice, is flagged with
the id of its first occurrence. Works in memory on sparse matrices, so 1M texts stay tractable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

_PRIME = np.uint64((1 << 61) - 1)


def _shingle_matrix(texts: Sequence[str], k: int, chunk: int = 50_000):
    """Each text's set of hashed character k-grams, as a boolean CSR matrix.

    Hashed `chunk` texts at a time and kept as 1-byte values: a million review-length texts hold
    ~300 million shingles, 1.5 GB like this against 3.6 GB as one float64 matrix (plus its
    temporaries)."""
    vectorizer = HashingVectorizer(
        analyzer="char",
        ngram_range=(k, k),
        n_features=2**24,
        binary=True,
        norm=None,
        alternate_sign=False,
        lowercase=True,
        preprocessor=lambda t: " ".join(t.casefold().split()),
    )
    blocks = []
    for start in range(0, len(texts), chunk):
        block = vectorizer.transform(texts[start : start + chunk]).tocsr()
        blocks.append(sparse.csr_matrix((block.data.astype(bool), block.indices, block.indptr), shape=block.shape))
    return sparse.vstack(blocks, format="csr") if len(blocks) != 1 else blocks[0]


def minhash_signatures(matrix, n_perm: int = 64, seed: int = 42) -> np.ndarray:
    """MinHash signature (rows x n_perm) of each row's set of non-zero columns."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**31 - 1, size=n_perm, dtype=np.uint64)
    b = rng.integers(0, 2**31 - 1, size=n_perm, dtype=np.uint64)
    n_rows = matrix.shape[0]
    signatures = np.full((n_rows, n_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    indptr, indices = matrix.indptr, matrix.indices.astype(np.uint64)
    # (x * a + b) % prime: with hashed columns (< 2**24) and a, b < 2**31, x * a + b < 2**56 is
    # already below the prime, and the modulo (a quarter of the time) changes nothing
    needs_modulo = len(indices) > 0 and int(indices.max()) * int(a.max()) + int(b.max()) >= int(_PRIME)
    non_empty = np.flatnonzero(np.diff(indptr) > 0)
    chunk = 256  # rows hashed at once (~250 shingles x n_perm x 8 bytes each): small enough to stay in cache
    for start in range(0, len(non_empty), chunk):
        rows = non_empty[start : start + chunk]
        lo, hi = indptr[rows[0]], indptr[rows[-1] + 1]
        hashed = np.multiply(indices[lo:hi, None], a[None, :])
        hashed += b  # in place: no second temporary
        if needs_modulo:
            hashed %= _PRIME
        starts = indptr[rows] - lo
        signatures[rows] = np.minimum.reduceat(hashed, starts, axis=0)
    return signatures


def near_duplicates(
    texts: Sequence[str],
    threshold: float = 0.85,
    min_chars: int = 40,
    k: int = 5,
    bands: int = 16,
    seed: int = 42,
) -> list[int | None]:
    """For each text, the index of an earlier near-duplicate, or None.

    Args:
        texts: texts in order of precedence (the first of a group is the original).
        threshold: minimal Jaccard similarity of the character k-gram sets.
        min_chars: shorter texts are never flagged ("RAS" from two customers is not a duplicate).
        k: shingle length.
        bands: LSH bands (the signature has 4 rows per band).
        seed: seed of the hash permutations.
    """
    result: list[int | None] = [None] * len(texts)
    eligible = [i for i, t in enumerate(texts) if t and len(t) >= min_chars]
    if len(eligible) < 2:
        return result
    matrix = _shingle_matrix([texts[i] for i in eligible], k)
    rows_per_band = 4
    signatures = minhash_signatures(matrix, bands * rows_per_band, seed)
    parent = list(range(len(eligible)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    checked: set[tuple[int, int]] = set()
    indptr, indices = matrix.indptr, matrix.indices

    def jaccard(i: int, j: int) -> float:
        # shingle sets are read from the sparse matrix when a pair is compared: holding one Python
        # set per text would cost ~20 GB at a million texts
        a, b = indices[indptr[i] : indptr[i + 1]], indices[indptr[j] : indptr[j + 1]]
        if not len(a) or not len(b):
            return 0.0
        common = len(np.intersect1d(a, b, assume_unique=True))
        return common / (len(a) + len(b) - common)

    for band in range(bands):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        block = signatures[:, band * rows_per_band : (band + 1) * rows_per_band]
        for row, key in enumerate(map(bytes, block)):
            buckets[key].append(row)
        for members in buckets.values():
            if len(members) < 2:
                continue
            first = members[0]
            # compare each member to the bucket's first and to its predecessor: enough to chain a group
            for j, other in enumerate(members[1:], start=1):
                for candidate in {first, members[j - 1]}:
                    pair = (candidate, other)
                    if pair in checked:
                        continue
                    checked.add(pair)
                    if jaccard(candidate, other) >= threshold:
                        ra, rb = find(candidate), find(other)
                        if ra != rb:
                            parent[max(ra, rb)] = min(ra, rb)
    for row in range(len(eligible)):
        root = find(row)
        if root != row:
            result[eligible[row]] = eligible[root]
    return result
