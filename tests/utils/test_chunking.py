import pytest

from espnet_qieemo.utils import chunking


@pytest.mark.parametrize("rows,per_row,budget", [(10, 3, 7), (1000, 64, 1 << 12), (5, 100, 10)])
def test_row_chunks_cover_rows_once_within_budget(monkeypatch, rows, per_row, budget):
    monkeypatch.setattr(chunking, "SCORE_BUDGET", budget)
    chunks = chunking.row_chunks(rows, per_row)
    covered = [i for c in chunks for i in range(rows)[c]]
    assert covered == list(range(rows))
    # a chunk stays within the budget unless one row alone is over it
    assert all((c.stop - c.start) * per_row <= max(budget, per_row) for c in chunks)


def test_a_minute_of_audio_is_one_chunk():
    """60 s at batch 1: 750 frames after the efficient conformer's x2, 4 heads."""
    assert chunking.row_chunks(750, 4 * 2 * 750) == [slice(0, 750)]
