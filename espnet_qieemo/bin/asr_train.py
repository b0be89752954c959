"""ESPnet's ASR training (``espnet2.bin.asr_train``) with this package's encoders registered."""

from typing import List, Optional

from espnet2.tasks.asr import ASRTask

import espnet_qieemo  # noqa: F401  (registers encoder: efficient_conformer)
from espnet_qieemo.utils.distributed import clean_exit


def get_parser():
    return ASRTask.get_parser()


def main(cmd: Optional[List[str]] = None) -> None:
    with clean_exit():
        ASRTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
