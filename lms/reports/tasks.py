"""Background report exports."""
