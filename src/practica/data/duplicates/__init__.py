"""What is wrong with a data set, found once: the hashing (``hygiene``), the duplicate index, the cleaning
policy over it and the hygiene report over it."""
