"""Where samples come from: one loader per kind of source (folders, CSV tables, JSON records, arrays, known sets), the dispatcher (``load``) and the decoding they share."""
