"""Task-neutral video data: frame sources, clip sampling, transforms, the clip mapper base, input errors."""
