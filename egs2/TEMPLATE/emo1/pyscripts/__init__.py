"""Python tools shared by every ``egs2/*_qieemo/emo1`` recipe (linked there as ``pyscripts``).

Kaldi-style data dirs, leave-one-group-out folds, audio formatting, the BPE token list, WER
and emotion scoring, and the speechocean762 ASR corpus prep used by more than one recipe.
Run from a recipe dir, as the stage scripts do: ``python -m pyscripts.<module> ...``.
Corpus preps used by one recipe only live in that recipe's ``local/``.
"""
