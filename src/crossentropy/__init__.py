"""crossentropy: the likelihood chain (package under construction)."""
