"""Importing this module registers the built-in dataset names in Detectron2's ``DatasetCatalog``.

AVA: ``ava_v2.{1,2}_{train,val}`` and ``ava_synthetic_{train,val}``; Kinetics:
``kinetics400_{train,val}`` and ``kinetics_synthetic_{train,val}``, each under its default root
(environment variables or ``datasets/``). Nothing is read until a dataset is loaded. The trainers
register again from the config (``AVA.ROOT``, ``AVA.DATASETS``, ``KINETICS.ROOT`` ...) before
loading.
"""

from ava_detector.ava.data.builtin import register_all_ava, register_synthetic_ava
from ava_detector.kinetics.data.register import register_all_kinetics

register_all_ava()
register_synthetic_ava()
register_all_kinetics()
