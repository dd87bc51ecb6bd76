"""Media: video assets and renditions (the media-pipeline issue). For now, the object store accessor."""
