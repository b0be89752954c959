from pyscripts import asr_wer
from pyscripts.kaldi_dir import write_table


def test_wer_and_cer_with_missing_hypothesis(tmp_path):
    write_table(tmp_path / "ref", {"u1": "ONE TWO THREE", "u2": "YES", "u3": "GO HOME"})
    write_table(tmp_path / "hyp", {"u1": "ONE TOO THREE", "u2": "YES"})  # u3 missing: 2 deletions
    lines = asr_wer.score(tmp_path / "ref", tmp_path / "hyp")
    assert "utterances: 3 (missing in hyp: 1)" in lines
    assert "WER: 50.00 % (3 / 6)" in lines  # 1 substitution + 2 deletions over 6 words
    assert "CER: 35.00 % (7 / 20)" in lines  # TWO->TOO: 1 of 11 chars, YES: 0 of 3, GOHOME: 6 of 6
