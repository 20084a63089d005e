"""Configuration: the ``add_*_config`` functions, one per concept, composed by ``add_ava_config``."""
