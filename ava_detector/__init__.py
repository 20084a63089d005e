"""ava_detector: SlowFast spatiotemporal action detection for AVA, as a Detectron2 project.

Importing a package of ava_detector registers nothing (this one only silences a deprecation
warning of fvcore, below). Two modules do, explicitly, and the tools and
the trainers import them: :mod:`ava_detector.builtin_models` (the backbone, heads and
meta-architectures in Detectron2's registries) and :mod:`ava_detector.builtin_datasets` (the built-in
AVA and Kinetics dataset names in ``DatasetCatalog``). Every package below is a plain namespace:
import names from the module that defines them.

Layout: a task-neutral video core (``config``, ``data``, ``modeling``, ``checkpoint``, ``engine``,
``utils``) and two task packages on top of it (``ava``, ``kinetics``); ``demo``, ``export`` and
``benchmarks`` are applications.
"""

import warnings

__version__ = "0.1.0"

# The one thing importing the package does: fvcore scripts its focal loss with torch.jit.script when
# Detectron2 is imported, which torch 2.14 deprecates with a warning on every tool's stderr.
warnings.filterwarnings(
    "ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning
)
