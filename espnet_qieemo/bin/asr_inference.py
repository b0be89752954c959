"""ESPnet's ASR decoding (``espnet2.bin.asr_inference``) with this package's encoders registered."""

from espnet2.bin.asr_inference import main

import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer)

if __name__ == "__main__":
    main()
