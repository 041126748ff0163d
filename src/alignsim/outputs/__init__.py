"""What a person reads: figures (on ``Figure`` objects, no global backend), explain, report text."""
