"""The AVA task: spatiotemporal action detection on keyframes (data, mapper, action head, evaluator, trainer)."""
