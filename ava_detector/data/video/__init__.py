"""Frame sources (JPEG folders, PyAV videos) behind one interface, and clip sampling."""
