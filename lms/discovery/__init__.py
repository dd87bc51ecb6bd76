"""Discovery: the bridge from the catalog to the ``search`` package. For now, the engine accessor."""
