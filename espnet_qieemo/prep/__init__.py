"""Recipe data preparation: corpora to Kaldi-style data dirs, folds, audio formatting.

Shared by every ``egs2/*_qieemo/emo1`` recipe, whose shell stages call these modules with
``python -m espnet_qieemo.prep.<module>``.
"""
