"""The Kinetics task: video classification for pretraining (lists, mapper, head, classifier, evaluator, trainer)."""
