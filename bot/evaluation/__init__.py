"""Offline measurement: labelled question sets, PolicyQA, and test stories replayed against the live stack."""
