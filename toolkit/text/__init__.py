"""Text: tokenization and its cache, gender-word swapping and sentence augmenters."""
