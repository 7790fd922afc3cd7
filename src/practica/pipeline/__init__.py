"""Running a whole suite: run directories, one experiment, the case study end to end."""
