"""Task-neutral engine: the video trainer, its train loop and resumable data loading, the launcher, the CLI."""
