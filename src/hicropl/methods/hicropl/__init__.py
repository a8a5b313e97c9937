"""HiCroPL (Zheng et al., ICCV 2025), registered as ``"hicropl"``.

* :mod:`.method`: the config (variants ``paper`` and ``official``, the ablation switches) and the method;
* :mod:`.learners`: the prompt learners of both variants (per-layer prompts, bidirectional flow);
* :mod:`.blocks`: the layer-specific knowledge proxy, its ablation alternatives and the knowledge mapper.
"""

from hicropl.methods.hicropl.method import HiCroPL, HiCroPLConfig

__all__ = ["HiCroPL", "HiCroPLConfig"]
