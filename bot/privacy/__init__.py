"""Members' personal data: masking (in replies, logs and storage), retention and erasure."""
