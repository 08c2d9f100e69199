"""`make bench`: this stack against the practice-style setup, side by side, in one run."""
