"""Image encoders that turn a batch of text images into a grid of visual tokens."""
