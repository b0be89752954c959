"""Train an emotion model (EmotionTask) with ESPnet's trainer.

Example::

    python -m espnet_qieemo.bin.emo_train --config conf/train_emo_qieemo.yaml \
        --asr_init exp/asr_train_asr_efficient_conformer --label_list data/labels \
        --train_data_path_and_name_and_type dump/train/wav.scp,speech,sound \
        --train_data_path_and_name_and_type dump/train/emotion,emotion,text ...
"""

from typing import List, Optional

from espnet_qieemo.tasks.emotion import EmotionTask
from espnet_qieemo.utils.distributed import clean_exit
from espnet_qieemo.utils.weights import weights_only_loads


def get_parser():
    return EmotionTask.get_parser()


def main(cmd: Optional[List[str]] = None) -> None:
    # Every checkpoint this process reads is read as data only: --asr_init, --init_param, and
    # ESPnet's resume and n-best averaging (which ask torch.load for weights_only=False).
    with clean_exit(), weights_only_loads():
        EmotionTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
