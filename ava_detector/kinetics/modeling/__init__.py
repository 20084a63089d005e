"""Kinetics models: the classification head and the video classifier meta-architecture."""
