"""Row chunks that bound the memory of attention-like products on long inputs.

A 10-minute recording is 15,000 encoder frames: one fp32 score matrix per head is then
900 MB, and several of them live at once. Splitting the query rows into chunks keeps
at most ``SCORE_BUDGET`` score elements per chunk alive; the result is the same because
every row's softmax only reads its own row. Short inputs fit in a single chunk and take
exactly the unchunked path.
"""

from typing import List

SCORE_BUDGET = 1 << 24  # elements (64 MiB in fp32) per chunk; read at call time


def row_chunks(num_rows: int, elements_per_row: int) -> List[slice]:
    """Consecutive slices of ``num_rows`` rows, each holding at most SCORE_BUDGET elements.

    A chunk always has at least one row, so a single row over the budget still runs.
    """
    step = max(1, SCORE_BUDGET // max(1, elements_per_row))
    return [slice(start, min(start + step, num_rows)) for start in range(0, num_rows, step)]
