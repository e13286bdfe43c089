"""Carrying a plan out: the writes and their verification, the journal, saved plans."""
