"""Offline fitting of the learnt parts retrieval loads: query adapter, answer reader, confidence."""
