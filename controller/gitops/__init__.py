"""gitops layer."""
