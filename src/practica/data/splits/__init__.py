"""How a data set is divided (train/val/test, duplicate groups kept together) and the lineage that records it."""
