"""Per-scan adaptation of a pretrained thick-slice network (``volsr infer --adapt``).

Self-super-resolution (:mod:`volsr.ssr`) trains networks from random weights on a scan's
own in-plane slices; adaptation starts from a pretrained ``any_factor`` 2D network
(``lraxis_2d``) and fine-tunes it on the same kind of pairs, guarded by a small learning
rate, a pull toward the pretrained weights (L2-SP) and held-out slices.

* :func:`adapt_to_scan`: the fine-tune on one scan (:mod:`volsr.adapt.scan`);
* :class:`AdaptingPredictor`, :func:`adapting_predictor`: the inference-path predictor of
  ``volsr infer --adapt`` (:mod:`volsr.adapt.predictor`);
* :func:`fine_tune`: the guarded mode of the training loop that ``volsr ssr`` shares
  (:mod:`volsr.adapt.finetune` on :func:`volsr.ssr.fit.fit`).
"""

from volsr.adapt.finetune import FineTuneResult, fine_tune
from volsr.adapt.predictor import AdaptingPredictor, adapting_predictor, check_adaptable
from volsr.adapt.scan import AdaptResult, AdaptSettings, adapt_to_scan

__all__ = ["AdaptResult", "AdaptSettings", "AdaptingPredictor", "FineTuneResult",
           "adapt_to_scan", "adapting_predictor", "check_adaptable", "fine_tune"]
